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

import numpy as np

from nf_skills.contracts import GateFinding, GateResult
from shared.media_probe import (
    decode_audio,
    image_stats,
    probe_media,
    video_frames_at,
    wav_stats,
)

SKILL_ID = "SKILL_18"
# 1.1.0: frame size per format, motion within a shot, the music bed present and below speech
VERSION = "1.1.0"


@dataclass(frozen=True)
class MediaThresholds:
    min_image_std: float = 3.0  # max per-channel std-dev (0-255 scale); a blank frame is ~0
    min_audio_seconds: float = 0.2
    # Expected narration lengths are estimates (text length x speaking rate): allow +-40 %.
    audio_tolerance_ratio: float = 0.4
    min_audio_rms: float = 0.003  # full scale 1.0; about -50 dBFS, far below any speech
    video_tolerance_seconds: float = 0.5
    video_tolerance_ratio: float = 0.02  # the larger of the two tolerances applies
    # mean absolute difference (0-255 grey, 160 px wide) between two frames of one shot; a
    # still frame re-encoded differs by < 0.3, the slowest pan by several units
    min_motion: float = 1.0
    min_bed_rms: float = 0.004  # the bed in the pauses between speech: about -48 dBFS
    min_speech_over_bed_db: float = 6.0  # speech at least this much louder than the bed


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


def check_frame_size(path: Path, size: tuple[int, int]) -> list[GateFinding]:
    """video.width / video.height: the video stream has the format's frame size."""
    name = Path(path).name
    try:
        info = probe_media(path)
    except (OSError, ValueError) as exc:
        return [_fail("video.readable", f"{name}: {exc}")]
    video = next((s for s in info["streams"] if s["codec_type"] == "video"), None)
    if video is None:
        return [_fail("video.has_video", f"{name}: no video stream")]
    return [
        GateFinding(
            rule=rule,
            passed=got == want,
            value=float(got or 0),
            threshold=float(want),
            detail=f"{name}: {got} px, expected {want}",
        )
        for rule, got, want in (
            ("video.width", video.get("width"), size[0]),
            ("video.height", video.get("height"), size[1]),
        )
    ]


def check_motion(
    path: Path, windows: list[tuple[float, float]], thresholds: MediaThresholds = DEFAULT
) -> list[GateFinding]:
    """video.motion: two frames inside the longest shot (at 20 % and 80 % of it) differ."""
    name = Path(path).name
    spans = [(a, b) for a, b in windows if b - a >= 0.5]
    if not spans:
        return [_fail("video.motion", f"{name}: no shot of 0.5 s or more to look at")]
    a, b = max(spans, key=lambda w: w[1] - w[0])
    try:
        f1, f2 = video_frames_at(path, [a + 0.2 * (b - a), a + 0.8 * (b - a)])
    except (OSError, ValueError) as exc:
        return [_fail("video.motion", f"{name}: {exc}")]
    n = min(len(f1), len(f2))
    first = f1[:n].astype(np.int16)
    diff = float(np.mean(np.abs(first - f2[:n].astype(np.int16))))
    # a pan over a nearly flat picture (a plain sky, a provider's flat image) changes next to
    # nothing: a viewer cannot tell it from a still, so there is no motion to ask for
    detail = float(np.mean(np.abs(np.diff(first, axis=1)))) if first.size else 0.0
    flat = detail < 2 * thresholds.min_motion
    return [
        GateFinding(
            rule="video.motion",
            passed=diff >= thresholds.min_motion or flat,
            value=round(diff, 3),
            threshold=thresholds.min_motion,
            detail=f"{name}: mean frame difference within the shot {a:.1f}-{b:.1f} s"
            + (f" (a flat picture, detail {detail:.2f}: motion not visible)" if flat else ""),
        )
    ]


def check_audio_bed(
    path: Path,
    speech: list[tuple[float, float]],
    thresholds: MediaThresholds = DEFAULT,
    *,
    rate: int = 16000,
) -> list[GateFinding]:
    """audio.bed_present (RMS in the pauses between speech segments) and audio.bed_below_speech
    (speech RMS over pause RMS, in dB) on the file's audio track."""
    name = Path(path).name
    try:
        mono = decode_audio(path, rate=rate)
    except (OSError, ValueError) as exc:
        return [_fail("audio.bed_present", f"{name}: {exc}")]
    guard = 0.08  # AAC priming and the release of the last syllable stay out of the pauses
    in_speech = np.zeros(len(mono), dtype=bool)
    for a, b in speech:
        in_speech[max(0, int((a - guard) * rate)) : int((b + guard) * rate)] = True
    pauses, talk = mono[~in_speech], mono[in_speech]
    if len(pauses) < rate // 10 or len(talk) == 0:
        return [_fail("audio.bed_present", f"{name}: under 0.1 s of pauses to measure the bed")]
    bed = float(np.sqrt(np.mean(np.square(pauses, dtype=np.float64))))
    voice = float(np.sqrt(np.mean(np.square(talk, dtype=np.float64))))
    ratio_db = 20 * np.log10(max(voice, 1e-9) / max(bed, 1e-9))
    return [
        GateFinding(
            rule="audio.bed_present",
            passed=bed >= thresholds.min_bed_rms,
            value=round(bed, 6),
            threshold=thresholds.min_bed_rms,
            detail=f"{name}: RMS in {len(pauses) / rate:.1f} s of pauses",
        ),
        GateFinding(
            rule="audio.bed_below_speech",
            passed=ratio_db >= thresholds.min_speech_over_bed_db,
            value=round(float(ratio_db), 2),
            threshold=thresholds.min_speech_over_bed_db,
            detail=f"{name}: speech RMS {voice:.4f} over bed RMS {bed:.4f} (dB)",
        ),
    ]


def composed_video_gate(
    path: Path,
    narration_seconds: float | None,
    *,
    size: tuple[int, int] | None = None,
    shot_windows: list[tuple[float, float]] | None = None,
    speech_segments: list[tuple[float, float]] | None = None,
    exports: Iterable[tuple[Path, tuple[int, int]]] = (),
    thresholds: MediaThresholds = DEFAULT,
) -> GateResult:
    """SKILL_18 over a composed chapter: the video checks, and what the project asked for:
    the frame size, motion within a shot (when `shot_windows`), the music bed (when
    `speech_segments`), each export's frame size."""
    findings = check_video(path, narration_seconds, thresholds)
    if size is not None:
        findings += check_frame_size(path, size)
    if shot_windows is not None:
        findings += check_motion(path, shot_windows, thresholds)
    if speech_segments is not None:
        findings += check_audio_bed(path, speech_segments, thresholds)
    for export, export_size in exports:
        findings += [
            f.model_copy(update={"rule": f"export.{f.rule}"})
            for f in check_frame_size(export, export_size)
        ]
    return gate_result(findings)


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
