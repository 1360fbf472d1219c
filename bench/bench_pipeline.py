"""End-to-end benchmark: the same novel through the orchestrated asset graph and through the
bare skill functions in a plain loop; prints wall time, peak memory, chapters/s and the ratio.

    .venv/bin/python bench/bench_pipeline.py --zh-chapters 10 [--repeat 3] [--skip-en]

Each graph run uses a fresh tenant, so the skill cache cannot serve it: the ratio measures
orchestration + write-back overhead, not caching. NF_DATABASE_URL (or the embedded server) is
the database; Dagster runs on an ephemeral instance.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CORPUS = Path(__file__).resolve().parent.parent / "corpus"


def plain_loop(data: bytes, store_root: Path) -> int:
    """The skills of the graph called directly, in order, with the same gates and degradation
    and chapters fanned out to the same pool; no Dagster, no database, no cache."""
    from nf_assets.executors import (
        ComposeJob,
        MediaJob,
        chapter_subtitles,
        compose_chapter_video,
        render_chapter_media,
    )
    from nf_assets.planning import BUDGET_SECONDS, MIN_SECONDS
    from nf_assets.runtime import media_pool
    from nf_services.providers.offline_embedding import HashingNgramEmbedding
    from nf_skills import (
        gated_script,
        s01_ingest,
        s02_chapter_split,
        s03_chunk,
        s05_characters,
        s06_relations,
        s09_render_plan,
        s11_voice_cast,
        s13_storyboard,
        s14_persona,
        s15_style_bible,
        s16_content_gate,
        s18_media_gate,
        s19_continuity,
        s20_prompt_compile,
        understand,
    )
    from shared.storage import LocalArtifactStore

    src = s01_ingest.ingest(data)
    lang = src.language
    chapters = s02_chapter_split.split_chapters(src.text, lang).chapters
    chunks = [c for ch in chapters for c in s03_chunk.chunk_chapter(ch)]
    HashingNgramEmbedding().embed([c.text for c in chunks])
    chars = s05_characters.extract_characters(chapters, lang, top_n=50)
    s06_relations.relation_graph(chapters, chars)
    und = [understand.understand_chapter(c, chars, lang) for c in chapters]
    personas = s14_persona.build_personas(chars, und, chapters, lang)
    voices = s11_voice_cast.cast_voices(personas, lang)
    scripts = [
        gated_script.adapt_gated(c, u, personas, lang)[0]
        for c, u in zip(chapters, und, strict=True)
    ]
    boards = [
        s13_storyboard.make_storyboard(s, u, personas=personas)
        for s, u in zip(scripts, und, strict=True)
    ]
    for c, u, s, b in zip(chapters, und, scripts, boards, strict=True):
        s16_content_gate.content_gate(c, u, s, b, personas)
    style = s15_style_bible.style_bible(None, lang)
    cont = s19_continuity.continuity(personas, style)
    rate = s09_render_plan.speech_rate_for(lang)
    plans = [
        s09_render_plan.render_plan(
            b,
            s,
            style,
            cont,
            budget_seconds=BUDGET_SECONDS,
            min_seconds=MIN_SECONDS,
            speech_rate=rate,
        )
        for b, s in zip(boards, scripts, strict=True)
    ]
    prompts = [
        s20_prompt_compile.compile_prompts(p, b, style, cont, personas, voices)
        for p, b in zip(plans, boards, strict=True)
    ]
    off, root = {"kind": "offline"}, LocalArtifactStore(store_root).spec
    pool = media_pool()
    jobs = [MediaJob(c.index, p, off, off, root) for c, p in zip(chapters, prompts, strict=True)]
    media = [o.output for o in pool.map(render_chapter_media, jobs)]
    subs = [chapter_subtitles(m) for m in media]
    composed = [ComposeJob(m, s, root) for m, s in zip(media, subs, strict=True)]
    store = LocalArtifactStore(store_root)
    for m, o in zip(media, pool.map(compose_chapter_video, composed), strict=True):
        s18_media_gate.video_gate(store.resolve(o.output.mp4_path), m.narration_seconds)
    return len(chapters)


def graph_run(data: bytes, store_root: Path, slug: str) -> int:
    import dagster as dg

    from nf_cli.demo import QUIET
    from nf_cli.runs import run_novel
    from shared.db import get_engine

    run = run_novel(
        get_engine(),
        store_root,
        tenant=f"b{uuid.uuid4().hex[:8]}",
        project="bench",
        slug=slug,
        data=data,
        instance=dg.DagsterInstance.ephemeral(),
        run_config=QUIET,
    )
    if not run.result.success:
        raise SystemExit(f"graph run failed: {run.result.all_events[-1]}")
    return run.result.output_for_node("export_record")["chapters"]


def peak_mib() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def measure(label: str, fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            n = fn(Path(tmp))
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(
        f"  {label:<6} median {med:7.2f}s  runs {[round(t, 2) for t in times]}  "
        f"{n / med:5.2f} chapters/s  peak RSS {peak_mib():.0f} MiB",
        flush=True,
    )
    return med


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--zh-chapters", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-en", action="store_true")
    args = ap.parse_args()
    from migrations import runner
    from nf_cli.demo import first_chapters
    from shared.db import database_url

    runner.upgrade(database_url(), "head")
    books = [
        ("xiyouji", first_chapters((CORPUS / "zh_xiyouji.txt").read_bytes(), args.zh_chapters))
    ]
    if not args.skip_en:
        books.append(("alice", (CORPUS / "en_alice_in_wonderland.txt").read_bytes()))
    for slug, data in books:
        print(f"{slug}:", flush=True)
        plain = measure("plain", lambda root, d=data: plain_loop(d, root), args.repeat)
        graph = measure("graph", lambda root, d=data, s=slug: graph_run(d, root, s), args.repeat)
        print(f"  overhead ratio graph/plain = {graph / plain:.3f} (target <= 1.10)", flush=True)


if __name__ == "__main__":
    main()
