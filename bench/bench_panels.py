"""Benchmark the offline panel renderer on a real novel's compiled image prompts.

Runs the pure skills (SKILL_01..20, no Dagster) over the first N chapters of a novel, then draws
every image prompt the way the executors do (one process per chapter, a pool of --workers) and
prints: panels, per-panel time (median / p95, first panel of a chapter vs the rest: backdrops
and character bitmaps are cached per process), PNG size, backdrop time per kind, and the
projection to a 100-chapter book at the same panels per chapter on the given workers.

    .venv/bin/python bench/bench_panels.py --novel corpus/zh_xiyouji.txt --chapters 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nf_assets.planning import BUDGET_SECONDS, MIN_SECONDS  # noqa: E402
from nf_services.media.backdrops import KINDS, Backdrop, render_backdrop  # noqa: E402
from nf_services.providers.offline_image import OfflinePanelProvider  # noqa: E402
from nf_skills import (  # noqa: E402
    gated_script,
    s01_ingest,
    s02_chapter_split,
    s05_characters,
    s09_render_plan,
    s11_voice_cast,
    s13_storyboard,
    s14_persona,
    s15_style_bible,
    s19_continuity,
    s20_prompt_compile,
)
from nf_skills.understand import understand_chapter  # noqa: E402


def compile_novel(path: Path, chapters: int, style: dict | None) -> list[list]:
    ing = s01_ingest.ingest(path.read_bytes())
    split = s02_chapter_split.split_chapters(ing.text, ing.language)
    chs = split.chapters[:chapters]
    lang = ing.language
    chars = s05_characters.extract_characters(split.chapters, lang)
    und = [understand_chapter(c, chars, lang) for c in chs]
    personas = s14_persona.build_personas(chars, und, chs, lang)
    voices = s11_voice_cast.cast_voices(personas, lang)
    sb = s15_style_bible.style_bible(style, lang)
    sheet = s19_continuity.continuity(personas, sb)
    rate = s09_render_plan.speech_rate_for(lang)
    out = []
    for c, u in zip(chs, und, strict=True):
        script, _ = gated_script.adapt_gated(c, u, personas, lang)
        board = s13_storyboard.make_storyboard(script, u, personas=personas)
        plan = s09_render_plan.render_plan(
            board, script, sb, sheet, budget_seconds=BUDGET_SECONDS, min_seconds=MIN_SECONDS,
            speech_rate=rate,
        )  # fmt: skip
        prompts = s20_prompt_compile.compile_prompts(plan, board, sb, sheet, personas, voices)
        out.append([(p.prompt, dict(p.params)) for p in prompts if p.kind == "image"])
    return out


def render_chapter(items: list[tuple[str, dict]]) -> list[tuple[float, int, float]]:
    """(wall seconds, PNG bytes, CPU seconds) per panel, drawn and saved like the provider does.
    CPU time is what a busy shared machine does not inflate."""
    provider = OfflinePanelProvider()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (prompt, params) in enumerate(items):
            t, c = time.perf_counter(), time.process_time()
            res = provider.render(prompt, params, Path(tmp) / f"{i}.png")
            cpu = time.process_time() - c
            out.append((time.perf_counter() - t, res.path.stat().st_size, cpu))
    return out


def _backdrop_times(size: tuple[int, int]) -> dict[str, float]:
    times = {}
    for kind in KINDS:
        b = Backdrop.from_params({"kind": kind, "key": f"bench-{kind}"})
        render_backdrop.cache_clear()
        t = time.process_time()
        render_backdrop(b, *size)
        times[kind] = time.process_time() - t
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--novel", type=Path, default=Path("corpus/zh_xiyouji.txt"))
    ap.add_argument("--chapters", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--vertical", action="store_true", help="9:16 (720x1280) panels")
    args = ap.parse_args()
    style = {"width": 720, "height": 1280} if args.vertical else None

    t0 = time.perf_counter()
    chapters = compile_novel(args.novel, args.chapters, style)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(render_chapter, chapters))
    wall = time.perf_counter() - t0

    per = [s for r in results for s, _, _ in r]
    cpu = [c for r in results for _, _, c in r]
    first = [r[0][2] for r in results if r]
    rest = [c for r in results for _, _, c in r[1:]]
    sizes = [b for r in results for _, b, _ in r]
    n = len(per)
    size = (720, 1280) if args.vertical else (1280, 720)
    print(f"novel {args.novel.name}: {args.chapters} chapters, {n} panels {size[0]}x{size[1]}")
    print(f"skills (compile, not timed below): {t_compile:.1f} s")
    print(
        f"per panel CPU: median {statistics.median(cpu) * 1000:.0f} ms, mean "
        f"{statistics.mean(cpu) * 1000:.0f} ms, p95 {sorted(cpu)[int(0.95 * (n - 1))] * 1000:.0f} "
        f"ms; first of a chapter (cold caches) median {statistics.median(first) * 1000:.0f} ms, "
        f"the rest {statistics.median(rest) * 1000:.0f} ms"
    )
    print(f"per panel wall (inflated by other load): median {statistics.median(per) * 1000:.0f} ms")
    print(
        f"PNG: median {statistics.median(sizes) / 1024:.0f} KiB, total {sum(sizes) / 2**20:.1f} MiB"
    )
    print(f"wall on {args.workers} workers: {wall:.1f} s ({n / wall:.1f} panels/s)")
    per_ch = n / max(1, len(chapters))
    print(
        f"projection, 100 chapters x {per_ch:.1f} panels on {args.workers} workers: "
        f"{100 * per_ch * sum(cpu) / n / args.workers:.0f} s of panel drawing (CPU time / workers)"
    )
    times = _backdrop_times(size)
    print(
        "backdrop alone (uncached, CPU), ms: "
        + ", ".join(f"{k} {v * 1000:.0f}" for k, v in times.items())
    )


if __name__ == "__main__":
    main()
