"""Inspect produced media: container streams (ffprobe or `ffmpeg -i`), WAV stats, image stats.

Read-only helpers used by the composer, the media gate (SKILL_18) and tests. WAV files are parsed
here rather than with `wave` alone because `wave` (3.11) rejects WAVE_FORMAT_EXTENSIBLE and float
files, and streamed WAVs carry a placeholder data size that must be clamped to the file size.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageStat

from shared.errors import NFError

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


def find_ffmpeg() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg, else the system one."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # the wheel may lack a binary for this platform
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise NFError(
                "NF-MEDIA-001", "no ffmpeg found: install imageio-ffmpeg or the ffmpeg package"
            ) from None
        return exe


# --- containers -----------------------------------------------------------------------------
def probe_media(path: Path | str) -> dict:
    """Streams and duration of a media file.

    Returns {"duration": float | None, "format": str, "streams": [{"index", "codec_type",
    "codec_name", "duration", "width", "height", "sample_rate", "channels"}], "codec_types":
    [...], "source": "ffprobe" | "ffmpeg"}. Raises FileNotFoundError or ValueError (unreadable).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(path)
    ffprobe = shutil.which("ffprobe")
    try:
        info = _probe_ffprobe(ffprobe, path) if ffprobe else _probe_ffmpeg(path)
    except subprocess.TimeoutExpired as exc:
        raise ValueError(f"probing {path.name} timed out") from exc
    info["codec_types"] = sorted({s["codec_type"] for s in info["streams"]})
    return info


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _probe_ffprobe(exe: str, path: Path) -> dict:
    cmd = [exe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise ValueError(f"ffprobe cannot read {path.name}: {proc.stderr.strip()[:300]}")
    data = json.loads(proc.stdout or "{}")
    streams = [
        {
            "index": s.get("index"),
            "codec_type": s.get("codec_type", "unknown"),
            "codec_name": s.get("codec_name", ""),
            "duration": _float(s.get("duration")),
            "width": s.get("width"),
            "height": s.get("height"),
            "sample_rate": int(s["sample_rate"]) if s.get("sample_rate") else None,
            "channels": s.get("channels"),
        }
        for s in data.get("streams", [])
    ]
    fmt = data.get("format", {})
    return {
        "duration": _float(fmt.get("duration")),
        "format": fmt.get("format_name", ""),
        "streams": streams,
        "source": "ffprobe",
    }


_DURATION = re.compile(r"Duration: (\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM = re.compile(
    r"Stream #\d+:(\d+)\S*?: (Video|Audio|Subtitle|Data|Attachment): ([A-Za-z0-9_]+)(.*)"
)
_INPUT = re.compile(r"Input #0, ([^,]+(?:,[^,\s]+)*), from")


def _probe_ffmpeg(path: Path) -> dict:
    """Parse `ffmpeg -i` stderr (used when ffprobe is not on PATH: imageio-ffmpeg has none)."""
    proc = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    err = proc.stderr
    if "Input #0" not in err:
        raise ValueError(f"ffmpeg cannot read {path.name}: {err.strip()[-300:]}")
    m = _DURATION.search(err)
    duration = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3]) if m else None
    streams = []
    for sm in _STREAM.finditer(err):
        rest = sm[4]
        size = re.search(r"\b(\d{2,5})x(\d{2,5})\b", rest)
        rate = re.search(r"(\d+) Hz", rest)
        channels = re.search(r"Hz, (mono|stereo|(\d+) channels)", rest)
        n_ch = None
        if channels:
            n_ch = {"mono": 1, "stereo": 2}.get(channels[1]) or int(channels[2] or 0) or None
        streams.append(
            {
                "index": int(sm[1]),
                "codec_type": sm[2].lower(),
                "codec_name": sm[3],
                "duration": None,
                "width": int(size[1]) if size and sm[2] == "Video" else None,
                "height": int(size[2]) if size and sm[2] == "Video" else None,
                "sample_rate": int(rate[1]) if rate else None,
                "channels": n_ch,
            }
        )
    im = _INPUT.search(err)
    return {
        "duration": duration,
        "format": im[1] if im else "",
        "streams": streams,
        "source": "ffmpeg",
    }


# --- WAV ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    sample_width: int  # bytes per sample
    fmt: int  # 1 PCM, 3 IEEE float
    data_offset: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def wav_info(path: Path | str) -> WavInfo:
    """Parse the RIFF header; the data size is clamped to what the file really holds."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path.name} is not a RIFF/WAVE file")
        fmt: tuple[int, int, int, int] | None = None
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                raise ValueError(f"{path.name} has no data chunk")
            cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                body = f.read(clen)
                if len(body) < 16:
                    raise ValueError(f"{path.name}: truncated fmt chunk")
                tag, channels, rate = struct.unpack("<HHI", body[:8])
                bits = struct.unpack("<H", body[14:16])[0]
                if tag == _EXTENSIBLE and len(body) >= 26:
                    tag = struct.unpack("<H", body[24:26])[0]  # first field of the subformat GUID
                fmt = (tag, channels, rate, bits)
                if clen % 2:
                    f.seek(1, 1)
            elif cid == b"data":
                if fmt is None:
                    raise ValueError(f"{path.name}: data chunk before fmt chunk")
                tag, channels, rate, bits = fmt
                width = max(1, bits // 8)
                offset = f.tell()
                avail = min(clen, size - offset)
                frames = avail // (width * channels) if channels else 0
                return WavInfo(rate, channels, width, tag, offset, frames)
            else:
                f.seek(clen + (clen % 2), 1)


def read_wav(path: Path | str) -> tuple[WavInfo, np.ndarray]:
    """Samples as float32 in [-1, 1], shape (frames, channels)."""
    info = wav_info(path)
    n = info.frames * info.channels
    w = info.sample_width
    raw = np.fromfile(path, dtype=np.uint8, count=n * w, offset=info.data_offset)
    if info.fmt == _FLOAT and w in (4, 8):
        data = raw.view("<f4" if w == 4 else "<f8").astype(np.float32)
    elif info.fmt == _PCM and w == 1:
        data = (raw.astype(np.float32) - 128.0) / 128.0
    elif info.fmt == _PCM and w == 2:
        data = raw.view("<i2").astype(np.float32) / 32768.0
    elif info.fmt == _PCM and w == 3:
        b = raw.reshape(-1, 3).astype(np.int32)
        ints = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        data = ints.astype(np.float32) / float(1 << 23)
    elif info.fmt == _PCM and w == 4:
        data = raw.view("<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"unsupported WAV encoding (format {info.fmt}, {8 * w} bit)")
    return info, data.reshape(-1, max(1, info.channels))


def wav_duration(path: Path | str) -> float:
    return wav_info(path).duration


@dataclass(frozen=True)
class WavStats:
    duration: float
    sample_rate: int
    channels: int
    rms: float  # full scale = 1.0
    peak: float
    voiced_ratio: float  # share of 50 ms windows louder than -40 dBFS


def wav_stats(path: Path | str) -> WavStats:
    info, data = read_wav(path)
    mono = data.mean(axis=1) if data.size else np.zeros(0, np.float32)
    if mono.size == 0:
        return WavStats(0.0, info.sample_rate, info.channels, 0.0, 0.0, 0.0)
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64))))
    win = max(1, info.sample_rate // 20)
    usable = mono[: mono.size // win * win]
    if usable.size:
        win_rms = np.sqrt(np.mean(np.square(usable.reshape(-1, win), dtype=np.float64), axis=1))
        voiced = float(np.mean(win_rms > 0.01))
    else:
        voiced = float(rms > 0.01)
    return WavStats(
        duration=info.duration,
        sample_rate=info.sample_rate,
        channels=info.channels,
        rms=rms,
        peak=float(np.max(np.abs(mono))),
        voiced_ratio=voiced,
    )


# --- images ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageStats:
    width: int
    height: int
    mode: str
    std: float  # the largest per-channel standard deviation, 0..~127; ~0 means a blank frame


def image_stats(path: Path | str) -> ImageStats:
    with Image.open(path) as im:
        im.load()
        # ImageStat works from per-channel histograms in C: ~6x faster than numpy here.
        std = max(ImageStat.Stat(im.convert("RGB")).stddev)
        return ImageStats(width=im.width, height=im.height, mode=im.mode, std=float(std))


# --- decoded samples (SKILL_18's motion and music checks) ------------------------------------
def video_frames_at(path: Path | str, times: list[float], *, width: int = 160) -> list[np.ndarray]:
    """Grey frames (uint8, `width` px wide) decoded at each time (seconds). Raises ValueError
    when a frame cannot be decoded."""
    frames = []
    for t in times:
        cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-ss", f"{t:.3f}"]
        cmd += ["-i", str(path), "-frames:v", "1", "-vf", f"scale={width}:-2,format=gray"]
        cmd += ["-f", "rawvideo", "-"]
        proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
        if proc.returncode != 0 or not proc.stdout or len(proc.stdout) % width:
            raise ValueError(f"no frame at {t:.2f} s in {Path(path).name}")
        frames.append(np.frombuffer(proc.stdout, dtype=np.uint8).reshape(-1, width))
    return frames


def decode_audio(path: Path | str, *, rate: int = 16000) -> np.ndarray:
    """The first audio stream as mono float32 at `rate` (any container ffmpeg reads)."""
    cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path)]
    cmd += ["-map", "0:a:0", "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"]
    proc = subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise ValueError(f"no audio in {Path(path).name}: {proc.stderr.decode()[-200:]}")
    return np.frombuffer(proc.stdout, dtype="<i2").astype(np.float32) / 32768.0
