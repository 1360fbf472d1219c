"""Compose a chapter video with motion: a slow pan across each still, cross-fades between shots.

Encoding budget: 100 chapters (~220 min of video) in a few minutes on two cores. What it costs,
measured on 720p at 10-12 fps:

- `zoompan` or `scale` with per-frame evaluation resamples every frame (~1.3 s of CPU per 60 s);
  here each panel is scaled ONCE (a little larger than the frame), converted to yuv420p once,
  repeated with the `loop` filter (references, no copies) and panned with `crop`, whose x/y are
  per-frame expressions and which only moves data pointers: the filters cost ~0.1 s per 60 s.
- A chain of `xfade` filters passes every frame of the chapter through every xfade (~2 s per
  60 s); here each shot is split into head/body/tail with `trim`, only the 0.5 s tail and head
  pairs go through `xfade`, and `concat` joins the pieces.
- x264 `ultrafast` costs ~4.5 ms of CPU per 720p frame whatever it shows, and a slow pan
  repeats most frames (crops move in 2 px steps): `mpdecimate` drops the repeats and the output
  is variable frame rate, so only the ~3-5 distinct frames a second (all of a cross-fade's) are
  encoded. A chapter costs ~2.5 s of CPU per minute of video, music bed included (the
  stills path ~0.8 s); bench/bench_compose.py prints the current figures.

The frame is any size (16:9 1280x720, 9:16 720x1280 from the same wide panels: the vertical
crop pans across the wide panel). Each shot's time is exact on the fps grid (shot seconds x
fps, rounded), so cuts land where the narration says; the last kept frame is at most
DECIMATE_MAX frames before the end of the audio.
"""

from __future__ import annotations

import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from nf_services.media.composer import _LANGS, ComposeResult, _timeline, composed, target_seconds
from shared.errors import NFError
from shared.media_probe import find_ffmpeg

DEFAULT_FPS = 10
CROSSFADE_S = 0.5
# The panel is scaled a little larger than the frame: the pan's room. The pan travels
# PAN_SPEED frame widths per second (6.4 px/s at 720p), so a long shot gets a larger margin,
# within MIN_MARGIN..MAX_MARGIN; a 2 px step (yuv420p crops on even columns) every few frames.
PAN_SPEED = 0.005
MIN_MARGIN, MAX_MARGIN = 0.04, 0.12
DECIMATE_MAX = 6
VERTICAL_PAN = 0.35  # a vertical crop of a wide panel travels this share of the spare width


@dataclass(frozen=True)
class Segment:
    panel: Path
    frames: int  # shown for this many frames (before the cross-fade overlap)


def merge_shots(shots: list[tuple[Path, float]]) -> list[tuple[Path, float]]:
    """Consecutive shots showing the same panel become one (one pan, no fade into itself)."""
    out: list[tuple[Path, float]] = []
    for path, secs in shots:
        if out and out[-1][0] == path:
            out[-1] = (path, out[-1][1] + secs)
        else:
            out.append((path, secs))
    return out


def segments_for(shots: list[tuple[Path, float]], target: float, fps: int) -> list[Segment]:
    """Frame counts per merged shot that sum to round(target * fps), each at least one frame."""
    merged = merge_shots(_timeline(shots, target))
    total = max(1, round(target * fps))
    segs: list[Segment] = []
    t = 0.0
    used = 0
    for i, (path, secs) in enumerate(merged):
        t += secs
        end = total if i == len(merged) - 1 else min(total, round(t * fps))
        frames = end - used
        if frames < 1:
            continue  # shorter than a frame: never seen
        segs.append(Segment(path, frames))
        used = end
    if used < total:  # the tail lost to rounding goes to the last shot
        last = segs[-1]
        segs[-1] = Segment(last.panel, last.frames + total - used)
    return segs


def _fades(segs: list[Segment], fps: int, crossfade: float) -> list[int]:
    """Overlap frames at each boundary: the cross-fade, shortened for short shots (at most a
    third of either shot), none (a cut) when under two frames."""
    want = round(crossfade * fps)
    out = []
    for a, b in zip(segs, segs[1:], strict=False):
        n = min(want, a.frames // 3, b.frames // 3)
        out.append(n if n >= 2 else 0)
    return out


def _pan(index: int, frames: int, sw: int, sh: int, w: int, h: int) -> tuple[str, str]:
    """Crop x/y expressions over the frame number n: a slow pan whose direction alternates from
    shot to shot (left to right, right to left; a vertical frame travels across the panel)."""
    dx, dy = sw - w, sh - h
    last = max(1, frames - 1)
    p = f"(n/{last})"
    if w < h:  # vertical crop of a wide panel: travel VERTICAL_PAN of the spare width
        span = dx * VERTICAL_PAN
        x0 = (dx - span) / 2
        xs = f"{x0:.1f}+{span:.1f}*{p}" if index % 2 == 0 else f"{x0 + span:.1f}-{span:.1f}*{p}"
        return xs, f"{dy / 2:.1f}"
    # horizontal only, bottom-aligned: the caption band at the bottom of a panel stays in frame
    if index % 2 == 0:
        return f"{dx:.1f}*{p}", f"{dy:.1f}"
    return f"{dx:.1f}*(1-{p})", f"{dy:.1f}"


def _scaled(panel: Path, w: int, h: int, seconds: float) -> tuple[int, int]:
    """Size the panel is scaled to: covers the frame with the shot's margin (even numbers)."""
    with Image.open(panel) as im:
        pw, ph = im.size
    margin = min(MAX_MARGIN, max(MIN_MARGIN, PAN_SPEED * seconds))
    s = max(w / pw, h / ph) * (1 + margin)
    return max(w, math.ceil(pw * s / 2) * 2), max(h, math.ceil(ph * s / 2) * 2)


def filter_graph(
    segs: list[Segment], w: int, h: int, fps: int, crossfade: float = CROSSFADE_S
) -> tuple[str, int]:
    """The filter_complex text and the number of output frames; input k is segs[k].panel."""
    fades = _fades(segs, fps, crossfade)
    parts: list[str] = []
    chain: list[str] = []
    total = 0
    for k, seg in enumerate(segs):
        head = fades[k - 1] if k > 0 else 0
        tail = fades[k] if k < len(segs) - 1 else 0
        n = seg.frames + tail  # the tail overlaps the next shot's head
        sw, sh = _scaled(seg.panel, w, h, n / fps)
        x, y = _pan(k, n, sw, sh, w, h)
        parts.append(
            f"[{k}:v]scale={sw}:{sh}:flags=bicubic,setsar=1,format=yuv420p,"
            f"loop=loop={n - 1}:size=1:start=0,setpts=N/{fps}/TB,"
            f"crop={w}:{h}:'{x}':'{y}'[s{k}]"
        )
        pieces = ([("h", 0, head)] if head else []) + [("b", head, n - tail)]
        pieces += [("t", n - tail, n)] if tail else []
        if len(pieces) == 1:
            parts.append(f"[s{k}]null[b{k}]")
        else:
            parts.append(f"[s{k}]split={len(pieces)}" + "".join(f"[{p}{k}r]" for p, _, _ in pieces))
            for p, a, b in pieces:
                parts.append(
                    f"[{p}{k}r]trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS[{p}{k}]"
                )
        if head:
            parts.append(
                f"[t{k - 1}][h{k}]xfade=transition=fade:duration={head / fps:.6f}:offset=0[x{k}]"
            )
            chain.append(f"[x{k}]")
        chain.append(f"[b{k}]")
        total += seg.frames
    # A slow pan moves in 2 px steps (yuv420p crops on even columns): most frames repeat the
    # previous one. mpdecimate drops the repeats (at most DECIMATE_MAX in a row, so a frame
    # still comes every ~0.5 s and the stream ends within that of the audio) and the output is
    # variable frame rate: x264 encodes the ~3-5 distinct frames a second, not 12.
    parts.append(
        "".join(chain)
        + f"concat=n={len(chain)}:v=1:a=0,fps={fps},mpdecimate=max={DECIMATE_MAX}[vout]"
    )
    return ";\n".join(parts), total


def compose_motion(
    shots: list[tuple[Path, float]],
    audio: Path | None,
    subtitles_srt: Path | None,
    out_mp4: Path,
    *,
    size: tuple[int, int],
    fps: int = DEFAULT_FPS,
    crossfade: float = CROSSFADE_S,
    crf: int = 25,
    preset: str = "ultrafast",
    audio_bitrate: str = "64k",
    subtitle_language: str | None = None,
    threads: int = 1,
    timeout_s: float = 900.0,
) -> ComposeResult:
    """Encode (panel, seconds) shots with pan and cross-fades + audio (+ SRT) into an MP4 of
    exactly `size`, constant `fps`. Raises NF-STORAGE-002 for missing inputs, NF-MEDIA-001 when
    ffmpeg fails or the timeline is empty."""
    if not shots:
        raise NFError("NF-MEDIA-001", "no shots to compose")
    if fps < 1 or fps > 60:
        raise NFError("NF-MEDIA-001", f"fps must be within 1..60, got {fps}")
    w, h = size[0] - size[0] % 2, size[1] - size[1] % 2
    if w < 16 or h < 16:
        raise NFError("NF-MEDIA-001", f"frame size {size} is too small")
    target = target_seconds(shots, audio, "audio")
    if target <= 1 / fps:
        raise NFError("NF-MEDIA-001", f"timeline too short to compose ({target:.3f} s)")
    segs = segments_for([(Path(p), float(s)) for p, s in shots], target, fps)
    graph, _ = filter_graph(segs, w, h, fps, crossfade)

    subs = Path(subtitles_srt) if subtitles_srt else None
    if subs is not None and (not subs.is_file() or "-->" not in subs.read_text("utf-8")):
        subs = None
    out_mp4 = Path(out_mp4)
    out_mp4.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".motion-", dir=out_mp4.parent) as tmpdir:
        script = Path(tmpdir) / "graph.txt"
        script.write_text(graph, encoding="utf-8")
        tmp_out = Path(tmpdir) / "out.mp4"
        cmd = [find_ffmpeg(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
        for seg in segs:
            cmd += ["-i", str(seg.panel)]
        n_in = len(segs)
        maps = ["-map", "[vout]"]
        if audio is not None:
            cmd += ["-i", str(audio)]
            maps += ["-map", f"{n_in}:a:0"]
            n_in += 1
        if subs is not None:
            cmd += ["-sub_charenc", "UTF-8", "-i", str(subs)]
            maps += ["-map", f"{n_in}:s:0"]
        cmd += ["-/filter_complex", str(script), *maps]  # read from the file
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        cmd += ["-g", str(4 * fps), "-fps_mode", "vfr", "-threads", str(threads)]
        if audio is not None:
            cmd += ["-c:a", "aac", "-aac_coder", "fast", "-b:a", audio_bitrate]
        if subs is not None:
            cmd += ["-c:s", "mov_text"]
            if subtitle_language:
                lang = _LANGS.get(subtitle_language.lower(), subtitle_language)
                cmd += ["-metadata:s:s:0", f"language={lang}"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", str(tmp_out)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise NFError("NF-MEDIA-001", f"ffmpeg timed out after {timeout_s:.0f} s") from exc
        except OSError as exc:
            raise NFError("NF-MEDIA-001", f"ffmpeg could not start: {exc}") from exc
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0 or not tmp_out.is_file():
            raise NFError("NF-MEDIA-001", f"ffmpeg failed: {proc.stderr.strip()[-500:]}")
        os.replace(tmp_out, out_mp4)
    return composed(out_mp4, elapsed)


def shot_windows(
    shots: list[tuple[Path, float]], target: float, fps: int
) -> list[tuple[float, float]]:
    """(start, end) seconds of each merged shot in the composed video (the gate samples two
    frames inside one to see motion)."""
    out, t = [], 0
    for seg in segments_for([(Path(p), float(s)) for p, s in shots], target, fps):
        out.append((t / fps, (t + seg.frames) / fps))
        t += seg.frames
    return out
