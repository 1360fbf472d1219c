"""Benchmark the offline media stack on synthetic chapters and project 100 chapters.

Each chapter: N panels (OfflinePanelProvider), narration per shot (espeak-ng, or a synthetic
tone with --tone) joined into one track, SKILL_21 subtitles, then the MP4 twice: the stills
path (`compose_chapter`, one frame per panel: what COMPOSER 1.0.0 made) and the issue-14 video
(`make_chapter_video`: music bed ducked under the narration, pan + cross-fades at 12 fps), and
with --vertical the 9:16 export as well; the SKILL_18 gate (1.1.0: motion, bed, frame size) on
the new video. Chapters run in a process pool (default 2 workers, the target machine's cores).

    .venv/bin/python bench/bench_compose.py --chapters 6 --minutes 2 --shots 12 [--vertical]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
import wave
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nf_services.media.chapter_video import make_chapter_video  # noqa: E402
from nf_services.media.composer import compose_chapter, concat_wavs_timed  # noqa: E402
from nf_services.media.motion import compose_motion  # noqa: E402
from nf_services.media.video_options import VideoOptions  # noqa: E402
from nf_services.providers.offline_image import OfflinePanelProvider  # noqa: E402
from nf_services.providers.offline_speech import EspeakSpeechProvider, find_espeak  # noqa: E402
from nf_skills.s18_media_gate import composed_video_gate, media_gate  # noqa: E402
from nf_skills.s21_subtitle import build_subtitles  # noqa: E402

SENTENCES = [
    "那猴王手持金箍棒，打得众神东倒西歪，一路杀到通明殿外。",
    "唐僧师徒四人晓行夜宿，不觉又是春尽夏来。",
    "八戒笑道：师兄莫要说嘴，且看老猪的手段。",
    "沙僧挑着行李，牵着白马，随后而行。",
    "只见那山高峻险，林深树密，不知有多少妖魔。",
]
CHARS_PER_SECOND = 2.8  # espeak-ng cmn at rate 170, measured


def _tone(path: Path, seconds: float, seed: int) -> Path:
    rate = 22050
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    # A warbling tone with syllable-like amplitude bursts: not silent, not constant.
    sig = 0.25 * np.sin(2 * np.pi * (180 + 40 * np.sin(2 * np.pi * 0.7 * t)) * t)
    sig *= 0.5 + 0.5 * np.abs(np.sin(2 * np.pi * rng.uniform(2, 4) * t))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((sig * 32767).astype(np.int16).tobytes())
    return path


def _shot_text(chapter: int, shot: int, seconds: float) -> str:
    n = round(seconds * CHARS_PER_SECOND)
    text = ""
    k = chapter * 7 + shot
    while len(text) < n:
        text += SENTENCES[k % len(SENTENCES)]
        k += 1
    return text[:n].rstrip("，") + "。"


def _cpu() -> float:
    """CPU seconds of this process and its finished children (ffmpeg, espeak-ng): the figure
    that does not depend on what else the machine runs."""
    own, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_chapter(
    index: int, out_dir: str, minutes: float, shots: int, tone: bool, vertical: bool = False
) -> dict:
    d = Path(out_dir) / f"ch{index:03d}"
    d.mkdir(parents=True, exist_ok=True)
    per_shot = minutes * 60 / shots
    t0 = time.perf_counter()
    panels, texts = [], []
    for s in range(1, shots + 1):
        text = _shot_text(index, s, per_shot)
        texts.append(text)
        params = {
            "framing": ("wide", "medium", "close")[s % 3],
            "characters": ["孙悟空", "唐僧", "猪八戒", "沙僧"][: 1 + s % 4],
            "character_colours": '{"孙悟空": "#c0392b", "唐僧": "#f1c40f"}',
            "caption": text,
            "shot_index": s,
            "title": f"第{index}回",
        }
        panels.append(OfflinePanelProvider().render(text, params, d / f"shot{s:02d}.png").path)
    t1 = time.perf_counter()
    clips = []
    for s, text in enumerate(texts, start=1):
        wav = d / f"shot{s:02d}.wav"
        if tone:
            clips.append(_tone(wav, per_shot - 0.3, index * 100 + s))
        else:
            clips.append(EspeakSpeechProvider().speak(text, "cmn", wav).path)
    track = concat_wavs_timed(clips, d / "narration.wav")
    t2 = time.perf_counter()
    subs = build_subtitles(
        index, [(t, a, b) for t, (a, b) in zip(texts, track.segments, strict=True)]
    )
    srt = d / "chapter.srt"
    srt.write_text(subs.srt, encoding="utf-8")
    (d / "chapter.vtt").write_text(subs.vtt, encoding="utf-8")
    t3 = time.perf_counter()
    c3 = _cpu()
    shots_timed = list(zip(panels, track.shot_seconds(), strict=True))
    stills = compose_chapter(shots_timed, track.path, srt, d / "stills.mp4", subtitle_language="zh")
    t4, c4 = time.perf_counter(), _cpu()
    made = make_chapter_video(
        index, shots_timed, track.path, track.segments, texts, srt, [], d, VideoOptions()
    )
    t5, c5 = time.perf_counter(), _cpu()
    if vertical:
        compose_motion(shots_timed, made.mp4, srt, d / "vertical.mp4", size=(720, 1280))
    t6, c6 = time.perf_counter(), _cpu()
    gate = (
        media_gate(images=panels, expected_size=(1280, 720), audio=[(track.path, None)]).findings
        + composed_video_gate(
            made.mp4,
            track.seconds,
            size=(1280, 720),
            shot_windows=made.shot_windows,
            speech_segments=track.segments,
        ).findings
    )
    t7 = time.perf_counter()
    return {
        "chapter": index,
        "video_s": made.seconds,
        "narration_s": track.seconds,
        "panels": t1 - t0,
        "speech": t2 - t1,
        "subtitles": t3 - t2,
        "stills": t4 - t3,
        "motion": t5 - t4,
        "vertical": t6 - t5,  # the 9:16 export alone
        "gate": t7 - t6,
        "total": t7 - t0,
        "gate_passed": all(f.passed for f in gate),
        "cpu_stills": c4 - c3,
        "cpu_motion": c5 - c4,
        "cpu_vertical": c6 - c5,
        "mp4_bytes": made.mp4.stat().st_size,
        "stills_bytes": stills.path.stat().st_size,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chapters", type=int, default=6)
    ap.add_argument("--minutes", type=float, default=2.0, help="narration per chapter")
    ap.add_argument("--shots", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tone", action="store_true", help="synthetic tone instead of espeak-ng")
    ap.add_argument("--out", type=Path, default=None, help="keep outputs here")
    ap.add_argument("--vertical", action="store_true", help="also time the 9:16 export")
    args = ap.parse_args()
    tone = args.tone or find_espeak() is None
    if tone and not args.tone:
        print("espeak-ng not found: using a synthetic tone for narration")

    with tempfile.TemporaryDirectory(prefix="nf-bench-") as tmp:
        out = str(args.out or tmp)
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            futures = [
                pool.submit(run_chapter, i, out, args.minutes, args.shots, tone, args.vertical)
                for i in range(1, args.chapters + 1)
            ]
            rows = [f.result() for f in futures]
        wall = time.perf_counter() - t0

    cols = ("panels", "speech", "subtitles", "stills", "motion", "vertical", "gate", "total")
    print(f"{'ch':>3} {'video':>7} " + " ".join(f"{c:>9}" for c in cols) + "  gate   MB")
    for r in rows:
        print(
            f"{r['chapter']:>3} {r['video_s']:>6.1f}s "
            + " ".join(f"{r[c]:>8.2f}s" for c in cols)
            + f"  {'pass' if r['gate_passed'] else 'FAIL'} {r['mp4_bytes'] / 1e6:5.2f}"
        )
    video_min = sum(r["video_s"] for r in rows) / 60
    stills = sum(r["stills"] for r in rows)
    motion = sum(r["motion"] for r in rows)
    mean_total = statistics.mean(r["total"] for r in rows)
    drift = max(abs(r["video_s"] - r["narration_s"]) for r in rows)
    print(f"narration: {'tone' if tone else 'espeak-ng cmn'}; workers: {args.workers}")
    print(
        f"compose seconds per minute of video: stills {stills / video_min:.2f}, "
        f"motion+music {motion / video_min:.2f} (x{motion / max(stills, 1e-9):.1f})"
        + (
            f", 9:16 export {sum(r['vertical'] for r in rows) / video_min:.2f}"
            if args.vertical
            else ""
        )
    )
    cpu = {
        k: sum(r[f"cpu_{k}"] for r in rows) / video_min for k in ("stills", "motion", "vertical")
    }
    print(
        f"compose CPU seconds per minute of video (load-independent): stills {cpu['stills']:.2f}, "
        f"motion+music {cpu['motion']:.2f} (x{cpu['motion'] / max(cpu['stills'], 1e-9):.1f})"
        + (f", 9:16 export {cpu['vertical']:.2f}" if args.vertical else "")
    )
    print(
        f"MB per minute: stills {sum(r['stills_bytes'] for r in rows) / 1e6 / video_min:.2f}, "
        f"motion {sum(r['mp4_bytes'] for r in rows) / 1e6 / video_min:.2f}"
    )
    print(f"per chapter (one worker): {mean_total:.2f} s; video/narration drift max {drift:.3f} s")
    print(f"wall: {wall:.1f} s for {len(rows)} chapters = {wall / len(rows):.2f} s/chapter")
    print(f"projected 100 chapters: {wall / len(rows) * 100 / 60:.1f} min")
    print(
        f"projected 100 chapters of this length, compose only, 2 free cores: stills "
        f"{cpu['stills'] * video_min / len(rows) * 100 / 2 / 60:.1f} min, motion+music "
        f"{cpu['motion'] * video_min / len(rows) * 100 / 2 / 60:.1f} min"
    )
    print(f"all gates passed: {all(r['gate_passed'] for r in rows)}")


if __name__ == "__main__":
    main()
