"""SKILL_18 media gate: technical checks on produced panels, narration and chapter videos.

Each check reads the file (Pillow, the WAV header and samples, ffprobe) and returns findings
with the measured value and the threshold it was held to, so a failed gate says exactly what
was wrong. A missing or unreadable file is a failed finding, not an exception: the degradation
loop decides what to do with a failed gate.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nf_skills.contracts import GateFinding, GateResult
from shared.media_probe import image_stats, probe_media, wav_stats

SKILL_ID = "SKILL_18"
VERSION = "1.0.0"


@dataclass(frozen=True)
class MediaThresholds:
    min_image_std: float = 3.0  # max per-channel std-dev (0-255 scale); a blank frame is ~0
    min_audio_seconds: float = 0.2
    # Expected narration lengths are estimates (text length x speaking rate): allow +-40 %.
    audio_tolerance_ratio: float = 0.4
    min_audio_rms: float = 0.003  # full scale 1.0; about -50 dBFS, far below any speech
    video_tolerance_seconds: float = 0.5
    video_tolerance_ratio: float = 0.02  # the larger of the two tolerances applies


DEFAULT = MediaThresholds()


def _fail(rule: str, detail: str) -> GateFinding:
    return GateFinding(rule=rule, passed=False, value=0.0, threshold=1.0, detail=detail)


def _flag(rule: str, ok: bool, detail: str) -> GateFinding:
    return GateFinding(rule=rule, passed=ok, value=float(ok), threshold=1.0, detail=detail)


def check_image(
    path: Path,
    expected_size: tuple[int, int] | None = None,
    thresholds: MediaThresholds = DEFAULT,
) -> list[GateFinding]:
    """image.readable, image.width/height (when a size is expected), image.not_blank."""
    name = Path(path).name
    try:
        st = image_stats(path)
    except (OSError, ValueError) as exc:
        return [_fail("image.readable", f"{name}: {exc}")]
    out = [_flag("image.readable", True, name)]
    if expected_size is not None:
        for rule, got, want in (
            ("image.width", st.width, expected_size[0]),
            ("image.height", st.height, expected_size[1]),
        ):
            out.append(
                GateFinding(
                    rule=rule,
                    passed=got == want,
                    value=float(got),
                    threshold=float(want),
                    detail=f"{name}: {got} px, expected {want}",
                )
            )
    out.append(
        GateFinding(
            rule="image.not_blank",
            passed=st.std >= thresholds.min_image_std,
            value=round(st.std, 3),
            threshold=thresholds.min_image_std,
            detail=f"{name}: pixel std-dev",
        )
    )
    return out


def check_audio(
    path: Path,
    expected_seconds: float | None = None,
    thresholds: MediaThresholds = DEFAULT,
) -> list[GateFinding]:
    """audio.readable, audio.min_duration, audio.duration_match (when an expected length is
    given), audio.not_silent."""
    name = Path(path).name
    try:
        st = wav_stats(path)
    except (OSError, ValueError) as exc:
        return [_fail("audio.readable", f"{name}: {exc}")]
    out = [
        _flag("audio.readable", True, name),
        GateFinding(
            rule="audio.min_duration",
            passed=st.duration >= thresholds.min_audio_seconds,
            value=round(st.duration, 3),
            threshold=thresholds.min_audio_seconds,
            detail=f"{name}: seconds",
        ),
    ]
    if expected_seconds is not None and expected_seconds > 0:
        diff = abs(st.duration - expected_seconds)
        tol = thresholds.audio_tolerance_ratio * expected_seconds
        out.append(
            GateFinding(
                rule="audio.duration_match",
                passed=diff <= tol,
                value=round(diff, 3),
                threshold=round(tol, 3),
                detail=f"{name}: {st.duration:.2f} s vs expected {expected_seconds:.2f} s",
            )
        )
    out.append(
        GateFinding(
            rule="audio.not_silent",
            passed=st.rms >= thresholds.min_audio_rms,
            value=round(st.rms, 6),
            threshold=thresholds.min_audio_rms,
            detail=f"{name}: RMS (full scale 1.0), {st.voiced_ratio:.0%} of 50 ms windows voiced",
        )
    )
    return out


def check_video(
    path: Path,
    narration_seconds: float | None = None,
    thresholds: MediaThresholds = DEFAULT,
    *,
    require_subtitles: bool = False,
) -> list[GateFinding]:
    """video.readable, video.has_video, video.has_audio, video.duration_match (when the
    narration length is known), video.has_subtitles (when required)."""
    name = Path(path).name
    try:
        info = probe_media(path)
    except (OSError, ValueError) as exc:
        return [_fail("video.readable", f"{name}: {exc}")]
    types = [s["codec_type"] for s in info["streams"]]
    out = [
        _flag("video.readable", True, f"{name}: {info['format']}"),
        _flag("video.has_video", "video" in types, f"{name}: streams {types}"),
        _flag("video.has_audio", "audio" in types, f"{name}: streams {types}"),
    ]
    if require_subtitles:
        out.append(_flag("video.has_subtitles", "subtitle" in types, f"{name}: streams {types}"))
    if narration_seconds is not None:
        duration = info["duration"]
        tol = max(
            thresholds.video_tolerance_seconds, thresholds.video_tolerance_ratio * narration_seconds
        )
        if duration is None:
            out.append(_fail("video.duration_match", f"{name}: no duration in the container"))
        else:
            diff = abs(duration - narration_seconds)
            out.append(
                GateFinding(
                    rule="video.duration_match",
                    passed=diff <= tol,
                    value=round(diff, 3),
                    threshold=round(tol, 3),
                    detail=f"{name}: {duration:.2f} s vs narration {narration_seconds:.2f} s",
                )
            )
    return out


def gate_result(findings: Iterable[GateFinding]) -> GateResult:
    findings = list(findings)
    return GateResult(
        gate="SKILL_18",
        passed=bool(findings) and all(f.passed for f in findings),
        findings=findings,
        skill_version=VERSION,
    )


def image_gate(
    paths: Iterable[Path],
    expected_size: tuple[int, int] | None = None,
    thresholds: MediaThresholds = DEFAULT,
) -> GateResult:
    return gate_result(f for p in paths for f in check_image(p, expected_size, thresholds))


def audio_gate(
    clips: Iterable[tuple[Path, float | None]], thresholds: MediaThresholds = DEFAULT
) -> GateResult:
    return gate_result(f for p, exp in clips for f in check_audio(p, exp, thresholds))


def video_gate(
    path: Path,
    narration_seconds: float | None = None,
    thresholds: MediaThresholds = DEFAULT,
    *,
    require_subtitles: bool = False,
) -> GateResult:
    return gate_result(
        check_video(path, narration_seconds, thresholds, require_subtitles=require_subtitles)
    )


def media_gate(
    *,
    images: Iterable[Path] = (),
    expected_size: tuple[int, int] | None = None,
    audio: Iterable[tuple[Path, float | None]] = (),
    video: Path | None = None,
    narration_seconds: float | None = None,
    require_subtitles: bool = False,
    thresholds: MediaThresholds = DEFAULT,
) -> GateResult:
    """SKILL_18 over everything a chapter produced; passes only if every finding passes (and
    there is at least one: a gate over nothing is not a pass)."""
    findings: list[GateFinding] = []
    for p in images:
        findings += check_image(p, expected_size, thresholds)
    for p, expected in audio:
        findings += check_audio(p, expected, thresholds)
    if video is not None:
        findings += check_video(
            video, narration_seconds, thresholds, require_subtitles=require_subtitles
        )
    return gate_result(findings)
