"""RAG benchmark: recall@10 and query latency per embedding backend and search path, at 10k and
100k chunks, through the real store (PostgreSQL rows, pgvector side tables, NumPy IVF).

    .venv/bin/python bench/bench_rag.py [--sizes 10000 100000] [--queries 200]
        [--backends char-ngram lsa] [--minilm-size 2000] [--out bench/results/bench_rag.json]

Chunks: the four corpus novels chunked by SKILL_03 (~4.6k real chunks), topped up to the size
with windows of 150-400 characters at random offsets of the same chapters (seeded, distinct).
Queries: sentences of real chunks with ~40% of their words/characters dropped (as the auto eval
sets do); a chunk is an answer when it contains the whole sentence.

Per backend and size it reports
- embedding throughput, write time, pgvector HNSW build time (where the server has pgvector);
- per search path (exact NumPy scan = the reference; `ivf` at nprobe = nlist/8 and nlist/4;
  pgvector HNSW (m=16, ef_construction=64) at ef_search 100 and 400; in-database exact `sql`
  on 20 queries at 10k and below):
  ANN recall@10 = |top-10 ∩ exact top-10| / 10, answer recall@10 = share of queries with an
  answer chunk in the top 10, and p50/p95 latency of one query (query embedding excluded,
  reported on its own).
MiniLM (optional `[dense]` extra) embeds ~5 chunks/s on 2 cores, so it runs at --minilm-size
only. A scratch database is created on the configured server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_gateway import drop_database, scratch_database  # noqa: E402
from nf_services.rag import backends, governance, indexing, minilm  # noqa: E402
from nf_services.rag.eval import _masked, _sentences, _units  # noqa: E402
from nf_services.rag.store import RagStore  # noqa: E402
from nf_skills import s01_ingest, s02_chapter_split, s03_chunk  # noqa: E402
from nf_skills.contracts import Chunk  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
NOVELS = (
    "zh_xiyouji.txt",
    "zh_a_q_zhengzhuan.txt",
    "en_alice_in_wonderland.txt",
    "en_pride_and_prejudice.txt",
)
K = 10


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def corpus() -> list[tuple[str, list]]:
    out = []
    for name in NOVELS:
        ing = s01_ingest.ingest((CORPUS / name).read_bytes())
        out.append((name, s02_chapter_split.split_chapters(ing.text, ing.language).chapters))
    return out


def make_chunks(books, n: int, seed: int = 0) -> dict[str, list[Chunk]]:
    """SKILL_03 chunks of every book, topped up with random windows to n in all."""
    per: dict[str, list[Chunk]] = {}
    seen: set[tuple[str, int, int, int]] = set()
    total = 0
    for name, chapters in books:
        per[name] = []
        for ch in chapters:
            for c in s03_chunk.chunk_chapter(ch):
                seen.add((name, c.chapter_index, c.start, c.end))
                per[name].append(c)
                total += 1
    rng = random.Random(seed)
    if total > n:  # a smaller run (the slow dense backend): an even sample of the real chunks
        keep = set(rng.sample(sorted(seen), n))
        return {
            name: [c for c in cs if (name, c.chapter_index, c.start, c.end) in keep]
            for name, cs in per.items()
        }
    weights = [sum(len(c.text) for c in chs) for _, chs in books]
    while total < n:
        name, chapters = rng.choices(books, weights=weights)[0]
        ch = rng.choice(chapters)
        length = rng.randint(150, 400)
        if len(ch.text) <= length:
            continue
        start = rng.randrange(0, len(ch.text) - length)
        key = (name, ch.index, start, start + length)
        if key in seen:
            continue
        seen.add(key)
        text = ch.text[start : start + length]
        cid = hashlib.sha1(f"w{ch.index}:{start}:{length}".encode()).hexdigest()[:16]
        per[name].append(
            Chunk(
                chunk_id=cid,
                chapter_index=ch.index,
                start=start,
                end=start + length,
                text=text,
                skill_version="bench",
            )
        )
        total += 1
    return per


def make_queries(per: dict[str, list[Chunk]], n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    real = [(name, c) for name, cs in per.items() for c in cs if c.skill_version != "bench"]
    out = []
    while len(out) < n:
        name, c = rng.choice(real)
        sents = [(s, e) for s, e in _sentences(c.text) if len(_units(c.text[s:e])) >= 10]
        if not sents:
            continue
        s, e = rng.choice(sents)
        out.append(
            {
                "query": _masked(c.text[s:e], rng, 0.4),
                "book": name,
                "chapter": c.chapter_index,
                "start": c.start + s,
                "end": c.start + e,
            }
        )
    return out


def answers(queries: list[dict], rows, novel_of: dict) -> list[set[str]]:
    """Chunk ids that contain each query's sentence span."""
    book = np.array([novel_of[r.novel_id] for r in rows])
    chap = np.array([r.chapter_index for r in rows])
    start = np.array([r.start for r in rows])
    end = np.array([r.end for r in rows])
    ids = np.array([r.id for r in rows])
    return [
        set(
            ids[
                (book == q["book"])
                & (chap == q["chapter"])
                & (start <= q["start"])
                & (end >= q["end"])
            ]
        )
        for q in queries
    ]


def run_path(store, tenant, project, version, qv, exact_top, rel, method, **kw) -> dict:
    lat, overlap, hits = [], [], 0
    n = len(qv) if method != "sql" else min(20, len(qv))
    for i in range(n):
        t0 = time.perf_counter()
        [got] = store.search(tenant, project, version.id, qv[i : i + 1], K, method=method, **kw)
        lat.append((time.perf_counter() - t0) * 1000)
        ids = [h.chunk_id for h in got]
        overlap.append(len(set(ids) & set(exact_top[i])) / K)
        hits += bool(set(ids) & rel[i])
    return {
        "method": method,
        **kw,
        "queries": n,
        "ann_recall_at_10": round(np.mean(overlap), 4),
        "answer_recall_at_10": round(hits / n, 4),
        "p50_ms": round(pct(lat, 50), 3),
        "p95_ms": round(pct(lat, 95), 3),
    }


def bench_backend(
    engine, store_root, tenant, project, name, backend, params, rows, queries, rel, with_sql: bool
) -> dict:
    from shared.storage import LocalArtifactStore

    art = LocalArtifactStore(store_root)
    v = governance.create_version(
        tenant,
        project,
        name=name,
        backend=backend,
        params=params,
        created_by="bench",
        engine=engine,
    )
    t0 = time.perf_counter()
    report = indexing.index_version(
        engine, v, store=art, trace_id=uuid.uuid4().hex, batch_size=2000
    )
    index_s = time.perf_counter() - t0
    v = governance.get_version(v.id, engine=engine)
    emb = backends.build_embedder(v.backend, v.backend_params, store=art)
    t0 = time.perf_counter()
    qv = np.asarray(emb.embed([q["query"] for q in queries]).vectors, dtype=np.float32)
    q_embed_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    rag = RagStore(engine)
    t0 = time.perf_counter()
    m = rag.matrix(tenant, project, v.id)
    load_s = time.perf_counter() - t0
    exact = rag.search(tenant, project, v.id, qv, K, method="exact")
    exact_top = [[h.chunk_id for h in r] for r in exact]
    paths = [run_path(rag, tenant, project, v, qv, exact_top, rel, "exact")]
    t0 = time.perf_counter()
    rag.search(tenant, project, v.id, qv[:1], K, method="ivf")  # builds the IVF index
    ivf_build_s = time.perf_counter() - t0
    default_probe = m.ivf.nprobe
    for probe in (default_probe, 2 * default_probe):
        paths.append(
            run_path(rag, tenant, project, v, qv, exact_top, rel, "ivf", nprobe=probe)
            | {"nlist": m.ivf.nlist}
        )
    if rag.pgvector_ready(v.id):
        for ef in (100, 400):
            paths.append(
                run_path(rag, tenant, project, v, qv, exact_top, rel, "pgvector", ef_search=ef)
            )
    if with_sql:
        paths.append(run_path(rag, tenant, project, v, qv, exact_top, rel, "sql"))
    return {
        "backend": backend,
        "version": name,
        "dimensions": v.dimensions,
        "chunks": len(rows),
        "index_seconds": round(index_s, 1),
        "fitted": report.fitted,
        "embed_chunks_per_s": round(len(rows) / index_s, 1),
        "query_embed_ms": round(q_embed_ms, 3),
        "matrix_load_s": round(load_s, 2),
        "ivf_build_s": round(ivf_build_s, 2),
        "pgvector_rows": report.pgvector_rows,
        "paths": paths,
    }


def bench_size(url, store_root, books, size, n_queries, backend_list, seed) -> list[dict]:
    from nf_services.novels import ensure_tenant_project, register_novel
    from shared.db import get_engine
    from shared.storage import LocalArtifactStore

    engine = get_engine(url)
    tenant, project = f"bench{size}", "rag"
    ensure_tenant_project(engine, tenant, project)
    per = make_chunks(books, size, seed)
    rag = RagStore(engine)
    novel_of = {}
    t0 = time.perf_counter()
    for name, chunks in per.items():
        ref = register_novel(
            engine,
            LocalArtifactStore(store_root),
            tenant_id=tenant,
            project_id=project,
            slug=Path(name).stem.replace("_", "-"),
            data=name.encode(),
            title=name,
            trace_id=uuid.uuid4().hex,
        )
        novel_of[ref.id] = name
        rag.write_chunks(
            tenant_id=tenant,
            project_id=project,
            trace_id=uuid.uuid4().hex,
            novel_id=ref.id,
            chunks=chunks,
        )
    write_s = time.perf_counter() - t0
    rows = rag.chunk_rows(tenant, project)
    queries = make_queries(per, n_queries, seed + 1)
    rel = answers(queries, rows, novel_of)
    print(
        f"[{size}] {len(rows)} chunks written in {write_s:.1f}s; {len(queries)} queries, "
        f"{np.mean([len(r) for r in rel]):.1f} answer chunks each",
        flush=True,
    )
    out = []
    for name, backend, params in backend_list:
        res = bench_backend(
            engine,
            store_root,
            tenant,
            project,
            name,
            backend,
            params,
            rows,
            queries,
            rel,
            with_sql=size <= 10_000,
        )
        res["chunk_write_s"] = round(write_s, 1)
        print(json.dumps(res, ensure_ascii=False), flush=True)
        out.append(res)
    return out


def markdown(results: list[dict]) -> str:
    lines = [
        "| chunks | backend | dims | path | ANN recall@10 | answer recall@10 | p50 ms | p95 ms |",
        "|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        for p in r["paths"]:
            label = p["method"] + "".join(
                f" {k}={p[k]}" for k in ("nprobe", "nlist", "ef_search") if k in p
            )
            lines.append(
                f"| {r['chunks']} | {r['backend']} | {r['dimensions']} | {label} | "
                f"{p['ann_recall_at_10']:.3f} | {p['answer_recall_at_10']:.3f} | "
                f"{p['p50_ms']:.2f} | {p['p95_ms']:.2f} |"
            )
    lines += [
        "",
        "| chunks | backend | embed chunks/s | query embed ms | index s | "
        "IVF build s | matrix load s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['chunks']} | {r['backend']} | {r['embed_chunks_per_s']} | "
            f"{r['query_embed_ms']} | {r['index_seconds']} | {r['ivf_build_s']} | "
            f"{r['matrix_load_s']} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--backends", nargs="+", default=["char-ngram", "lsa"], choices=["char-ngram", "lsa"]
    )
    ap.add_argument(
        "--minilm-size",
        type=int,
        default=2000,
        help="chunks for the MiniLM run (0: skip; needs the [dense] extra)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/bench_rag.json")
    args = ap.parse_args()

    import tempfile

    books = corpus()
    url = scratch_database()
    from migrations import runner

    runner.upgrade(url, "head")
    specs = {
        "char-ngram": ("char-ngram-512", "char-ngram", {}),
        "lsa": ("lsa-256", "lsa", {"k": 256}),
    }
    results: list[dict] = []
    try:
        with tempfile.TemporaryDirectory() as root:
            for size in args.sizes:
                results += bench_size(
                    url,
                    root,
                    books,
                    size,
                    args.queries,
                    [specs[b] for b in args.backends],
                    args.seed,
                )
            if args.minilm_size and minilm.available():
                results += bench_size(
                    url,
                    root,
                    books,
                    args.minilm_size,
                    args.queries,
                    [("minilm", "minilm", {}), specs["char-ngram"]],
                    args.seed,
                )
    finally:
        drop_database(url)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
