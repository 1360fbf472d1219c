"""Compose a chapter video from still panels, a narration track and subtitles.

Speed is the point here: 100 chapters of 1-3 minutes must encode in minutes on two cores. A
still panel is encoded once, not 24 times a second: the concat demuxer gives each image its
duration and the output is variable frame rate (one frame per still, every frame a keyframe so
seeking stays instant), x264 `-tune stillimage`. The AAC encoder's fast coder matters as much:
with the default coder the narration, not the video, dominates the encode time.

Narration is synthesized per shot; `concat_wavs_timed` joins the clips (pure Python `wave` +
numpy, short pauses between shots) and reports where each shot's speech starts and ends, which
gives both the panel durations and the subtitle timing.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from shared.errors import NFError
from shared.media_probe import find_ffmpeg, probe_media, read_wav, wav_duration

# The concat demuxer timestamps stills in 1/25 s: a shot boundary lands on this grid, and the
# final repeated frame (needed so the last still keeps its duration) lasts one tick.
CONCAT_TICK = 1 / 25
_LANGS = {"zh": "chi", "zh-cn": "chi", "cmn": "chi", "en": "eng", "en-us": "eng", "en-gb": "eng"}


# --- narration track ------------------------------------------------------------------------
@dataclass(frozen=True)
class NarrationTrack:
    path: Path
    seconds: float
    segments: list[tuple[float, float]]  # (start, end) of each input clip in the track
    sample_rate: int

    def shot_seconds(self) -> list[float]:
        return shot_durations(self.segments, self.seconds)


def shot_durations(segments: list[tuple[float, float]], total: float) -> list[float]:
    """How long each shot's panel is shown: from its speech start to the next one's (the first
    shot also covers the lead-in, the last one runs to the end of the track)."""
    starts = [0.0] + [s for s, _ in segments[1:]]
    ends = starts[1:] + [total]
    return [max(0.0, e - s) for s, e in zip(starts, ends, strict=True)]


def _convert(data: np.ndarray, rate: int, channels: int, to_rate: int, to_ch: int) -> np.ndarray:
    if channels != to_ch:
        mono = data.mean(axis=1, keepdims=True)
        data = np.repeat(mono, to_ch, axis=1) if to_ch > 1 else mono
    if rate != to_rate and len(data):
        n_out = max(1, round(len(data) * to_rate / rate))
        x_out = np.arange(n_out) * (rate / to_rate)
        x_in = np.arange(len(data))
        data = np.stack([np.interp(x_out, x_in, data[:, c]) for c in range(to_ch)], axis=1)
    return data


def concat_wavs_timed(
    paths: list[Path],
    out: Path,
    *,
    pause: float = 0.3,
    lead_in: float = 0.0,
    tail: float = 0.2,
) -> NarrationTrack:
    """Join WAV clips into one 16-bit PCM track with `pause` seconds of silence between clips.

    The track takes the sample rate and channel count of the first clip; other clips are
    converted (channel mix, linear resampling). Raises NF-MEDIA-002 on unreadable input.
    """
    if not paths:
        raise NFError("NF-SKILL-001", "no narration clips to join")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        first, _ = read_wav(paths[0])
    except (OSError, ValueError) as exc:
        raise NFError("NF-MEDIA-002", f"cannot read narration clip {paths[0]}: {exc}") from exc
    rate, ch = first.sample_rate, max(1, first.channels)
    gap = np.zeros((round(pause * rate), ch), dtype=np.int16).tobytes()
    segments: list[tuple[float, float]] = []
    frames = 0
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(ch)
        w.setsampwidth(2)
        w.setframerate(rate)
        lead = round(lead_in * rate)
        w.writeframes(np.zeros((lead, ch), dtype=np.int16).tobytes())
        frames += lead
        for i, p in enumerate(paths):
            try:
                info, data = read_wav(p)
            except (OSError, ValueError) as exc:
                tmp.unlink(missing_ok=True)
                raise NFError("NF-MEDIA-002", f"cannot read narration clip {p}: {exc}") from exc
            data = _convert(data, info.sample_rate, max(1, info.channels), rate, ch)
            pcm = (np.clip(data, -1.0, 1.0) * 32767).astype(np.int16)
            if i:
                w.writeframes(gap)
                frames += len(gap) // (2 * ch)
            start = frames
            w.writeframes(pcm.tobytes())
            frames += len(pcm)
            segments.append((start / rate, frames / rate))
        end_pad = round(tail * rate)
        w.writeframes(np.zeros((end_pad, ch), dtype=np.int16).tobytes())
        frames += end_pad
    os.replace(tmp, out)
    return NarrationTrack(path=out, seconds=frames / rate, segments=segments, sample_rate=rate)


def concat_wavs(paths: list[Path], out: Path, *, pause: float = 0.3) -> float:
    """Join narration clips into one track; returns its length in seconds."""
    return concat_wavs_timed(paths, out, pause=pause).seconds


# --- video ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComposeResult:
    path: Path
    duration: float
    has_video: bool
    has_audio: bool
    has_subtitles: bool = False
    encode_seconds: float = 0.0  # wall time of the ffmpeg run
    streams: list[str] = field(default_factory=list)  # codec types in stream order


def _timeline(shots: list[tuple[Path, float]], target: float) -> list[tuple[Path, float]]:
    """Clip or extend shot durations so they sum to `target` (the narration length)."""
    out: list[tuple[Path, float]] = []
    t = 0.0
    for path, secs in shots:
        if secs < 0:
            raise NFError("NF-MEDIA-001", f"negative shot duration {secs} for {path}")
        if t >= target - CONCAT_TICK:
            break  # the narration has ended: later shots would never be seen
        secs = min(secs, target - t)
        if secs > 0:
            out.append((path, secs))
            t += secs
    if not out:
        out.append((shots[0][0], 0.0))
    last_path, last = out[-1]
    out[-1] = (last_path, last + (target - t))  # hold the last panel until the audio ends
    return out


def _escape(path: Path) -> str:
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def _frame_size(paths: list[Path]) -> tuple[tuple[int, int], bool]:
    sizes = set()
    for p in paths:
        with Image.open(p) as im:
            sizes.add(im.size)
    w, h = next(iter(sizes)) if len(sizes) == 1 else max(sizes, key=lambda s: s[0] * s[1])
    return (w - w % 2, h - h % 2), len(sizes) == 1 and w % 2 == 0 and h % 2 == 0


def target_seconds(shots: list[tuple[Path, float]], audio: Path | None, label: str) -> float:
    """The video's length: the audio's, else the shots' sum; missing or unreadable inputs are
    NF-STORAGE-002 / NF-MEDIA-001 (`label` names the audio in the message)."""
    for p, _ in shots:
        if not Path(p).is_file():
            raise NFError("NF-STORAGE-002", f"panel {p} does not exist")
    if audio is not None and not Path(audio).is_file():
        raise NFError("NF-STORAGE-002", f"{label} {audio} does not exist")
    try:
        if audio is None:
            target = sum(max(0.0, s) for _, s in shots)
        elif Path(audio).suffix.lower() == ".wav":
            target = wav_duration(audio)
        else:
            target = float(probe_media(audio)["duration"] or 0.0)
    except (OSError, ValueError) as exc:
        raise NFError("NF-MEDIA-001", f"cannot read {label} {audio}: {exc}") from exc
    return target


def compose_chapter(
    shots: list[tuple[Path, float]],
    audio: Path | None,
    subtitles_srt: Path | None,
    out_mp4: Path,
    *,
    fps: int | None = None,
    size: tuple[int, int] | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    audio_bitrate: str = "64k",
    subtitle_language: str | None = None,
    threads: int = 0,
    timeout_s: float = 600.0,
) -> ComposeResult:
    """Encode (panel, seconds) shots + narration (+ SRT as a mov_text stream) into an MP4.

    The video lasts as long as the audio (the last panel is held, shots past the end are
    dropped); without audio it lasts the sum of the shot durations. `fps=None` writes one frame
    per still (variable frame rate, fastest); an integer writes constant frame rate for players
    that need it. Raises NF-STORAGE-002 for missing inputs, NF-MEDIA-001 when ffmpeg fails.
    """
    if not shots:
        raise NFError("NF-MEDIA-001", "no shots to compose")
    out_mp4 = Path(out_mp4)
    target = target_seconds(shots, audio, "narration")
    if target <= CONCAT_TICK:
        raise NFError("NF-MEDIA-001", f"timeline too short to compose ({target:.3f} s)")

    timeline = _timeline([(Path(p), float(s)) for p, s in shots], target)
    (w, h), uniform = _frame_size([p for p, _ in timeline])
    if size is not None:
        w, h = size[0] - size[0] % 2, size[1] - size[1] % 2
        uniform = False
    # The repeated last file (no duration) ends the stream; its one tick comes off the last shot.
    last_path, last = timeline[-1]
    timeline[-1] = (last_path, max(CONCAT_TICK, last - CONCAT_TICK))
    lines = ["ffconcat version 1.0"]
    for p, secs in timeline:
        lines += [f"file {_escape(p)}", f"duration {secs:.6f}"]
    lines.append(f"file {_escape(last_path)}")

    subs = Path(subtitles_srt) if subtitles_srt else None
    if subs is not None and (not subs.is_file() or "-->" not in subs.read_text("utf-8")):
        subs = None  # ffmpeg rejects an SRT without cues; a chapter may have no text to show
    out_mp4.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".compose-", dir=out_mp4.parent) as tmpdir:
        listing = Path(tmpdir) / "shots.ffconcat"
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        tmp_out = Path(tmpdir) / "out.mp4"
        cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
        cmd += ["-f", "concat", "-safe", "0", "-i", str(listing)]
        maps = ["-map", "0:v:0"]
        n_in = 1
        if audio is not None:
            cmd += ["-i", str(audio)]
            maps += ["-map", f"{n_in}:a:0"]
            n_in += 1
        if subs is not None:
            cmd += ["-sub_charenc", "UTF-8", "-i", str(subs)]
            maps += ["-map", f"{n_in}:s:0"]
        cmd += maps
        if not uniform:
            cmd += [
                "-vf",
                f"scale={w}:{h}:force_original_aspect_ratio=decrease,"
                f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1",
            ]
        cmd += ["-c:v", "libx264", "-preset", preset, "-tune", "stillimage", "-crf", str(crf)]
        cmd += ["-pix_fmt", "yuv420p", "-threads", str(threads)]
        if fps is None:
            vsync = ["-fps_mode", "vfr"]
            cmd += ["-g", "1"]
        else:
            vsync = ["-fps_mode", "cfr", "-r", str(fps)]
            cmd += ["-g", str(max(1, 2 * fps)), "-t", f"{target:.3f}"]
        if audio is not None:
            cmd += ["-c:a", "aac", "-aac_coder", "fast", "-b:a", audio_bitrate]
        if subs is not None:
            cmd += ["-c:s", "mov_text"]
            if subtitle_language:
                lang = _LANGS.get(subtitle_language.lower(), subtitle_language)
                cmd += ["-metadata:s:s:0", f"language={lang}"]
        tail = ["-movflags", "+faststart", "-f", "mp4", str(tmp_out)]
        t0 = time.perf_counter()
        proc = _run(cmd + vsync + tail, timeout_s)
        if proc.returncode != 0 and "fps_mode" in proc.stderr:
            # ffmpeg < 5.1 only knows the older spelling.
            legacy = ["-vsync", "vfr"] if fps is None else ["-vsync", "cfr", "-r", str(fps)]
            proc = _run(cmd + legacy + tail, timeout_s)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0 or not tmp_out.is_file():
            raise NFError("NF-MEDIA-001", f"ffmpeg failed: {proc.stderr.strip()[-500:]}")
        os.replace(tmp_out, out_mp4)
    return composed(out_mp4, elapsed)


def composed(out_mp4: Path, elapsed: float) -> ComposeResult:
    """What an encode produced, probed from the file (NF-MEDIA-001 when it is unreadable)."""
    try:
        info = probe_media(out_mp4)
    except (OSError, ValueError) as exc:
        raise NFError("NF-MEDIA-001", f"composed file is unreadable: {exc}") from exc
    types = [s["codec_type"] for s in info["streams"]]
    return ComposeResult(
        path=out_mp4,
        duration=float(info["duration"] or 0.0),
        has_video="video" in types,
        has_audio="audio" in types,
        has_subtitles="subtitle" in types,
        encode_seconds=elapsed,
        streams=types,
    )


def _run(cmd: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise NFError("NF-MEDIA-001", f"ffmpeg timed out after {timeout_s:.0f} s") from exc
    except OSError as exc:
        raise NFError("NF-MEDIA-001", f"ffmpeg could not start: {exc}") from exc
