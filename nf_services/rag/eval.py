"""Retrieval evaluation: eval sets (built from the novel, or hand-written), recall@k and MRR per
embedding version, results stored per run.

Relevance is stored as *where the answer is*, not as chunk ids, so a set survives re-chunking:

- auto items carry the answer span (novel, chapter, start, end, sha256 of the span text); the
  relevant chunks are those that contain the span (a sentence in the overlap of two chunks has
  two; either counts). An item whose span text changed since is skipped as unresolved.
- manual items carry `answer_text` (optionally a chapter), resolved to the chunks containing it,
  or explicit `relevant_chunk_ids`.

Metrics over the resolved queries, at cut-off k:
- recall@k: share of queries with at least one relevant chunk in the top k (the relevant chunks
  of one query are alternatives, so this is the hit rate);
- MRR@k: mean of 1/rank of the first relevant chunk, 0 when none is in the top k.

Auto queries come in two kinds, both with a known answer: `masked_sentence` (a sentence of the
chunk with ~40% of its words/characters dropped, so it is not a verbatim substring) and
`keywords` (the chunk's most distinctive terms by IDF over the novel, like a search box query).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert, select

from nf_services.rag import backends
from nf_services.rag.governance import VersionInfo, get_version
from nf_services.rag.store import ChunkRow, RagStore
from shared.errors import NFError
from shared.models import Base
from shared.storage import ArtifactStore
from shared.telemetry import current_trace_id

T = Base.metadata.tables
AUTO_VERSION = "1"
_SENTENCE_END = re.compile(r"[^。！？!?…\n]*(?:[。！？!?…]+[”’」』\"']*|\n|$)")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_UNITS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[A-Za-z0-9\u00c0-\u024f']+")
_STOP_EN = frozenset(
    "the a an and or but of to in on at for with from by as is was were be been are it its he "
    "she his her they them their i you we my me him not no so that this there then than had "
    "have has do did said would could should will shall which who what when where all one "
    "very if into out up upon".split()
)


# metrics -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metrics:
    k: int
    recall_at_k: float
    mrr: float
    n_queries: int
    ranks: list[int | None]  # per resolved query: rank of the first relevant chunk (<= k)


def compute_metrics(
    ranked: Sequence[Sequence[str]], relevant: Sequence[set[str]], k: int
) -> Metrics:
    """recall@k and MRR@k of ranked chunk-id lists against relevant-id sets (see module doc).
    Queries whose relevant set is empty are left out."""
    if k < 1:
        raise NFError("NF-INPUT-001", "k must be >= 1")
    ranks: list[int | None] = []
    for got, rel in zip(ranked, relevant, strict=True):
        if not rel:
            continue
        rank = next((i + 1 for i, cid in enumerate(got[:k]) if cid in rel), None)
        ranks.append(rank)
    n = len(ranks)
    if n == 0:
        return Metrics(k, 0.0, 0.0, 0, [])
    recall = sum(1 for r in ranks if r is not None) / n
    mrr = sum(1.0 / r for r in ranks if r is not None) / n
    return Metrics(k, recall, mrr, n, ranks)


# auto eval sets ----------------------------------------------------------------------------
def _units(text: str) -> list[re.Match]:
    return list(_UNITS.finditer(text))


def _sentences(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _SENTENCE_END.finditer(text):
        s, e = m.span()
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


def _terms(text: str) -> list[str]:
    """CJK bigrams and lower-cased non-stopword Latin words."""
    out: list[str] = []
    for run in re.findall(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+|[A-Za-z][A-Za-z']+", text):
        if _CJK.match(run):
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif run.lower() not in _STOP_EN and len(run) > 2:
            out.append(run.lower())
    return out


def _masked(sentence: str, rng: random.Random, drop: float) -> str:
    units = _units(sentence)
    keep = [u.group() for u in units if rng.random() >= drop]
    if len(keep) < 3:
        keep = [u.group() for u in units[: max(3, len(units) // 2)]]
    cjk = sum(1 for u in keep if _CJK.match(u)) > len(keep) / 2
    return ("" if cjk else " ").join(keep)


def build_auto_items(
    chunks: Sequence[ChunkRow],
    *,
    n_queries: int = 60,
    seed: int = 0,
    min_units: int = 10,
    drop: float = 0.4,
    keywords: int = 5,
) -> list[dict[str, Any]]:
    """Queries with known answers from a novel's chunks (deterministic for a seed)."""
    if not chunks:
        return []
    rng = random.Random(f"{seed}:{chunks[0].novel_id}")
    df: Counter[str] = Counter()
    for c in chunks:
        df.update(set(_terms(c.text)))
    picks = sorted(rng.sample(range(len(chunks)), min(n_queries, len(chunks))))
    items: list[dict[str, Any]] = []
    for n, pos in enumerate(picks):
        c = chunks[pos]
        if n % 2 == 0:
            sentences = [
                (s, e) for s, e in _sentences(c.text) if len(_units(c.text[s:e])) >= min_units
            ]
            if sentences:
                s, e = rng.choice(sentences)
                query = _masked(c.text[s:e], rng, drop)
                span = (c.start + s, c.start + e, c.text[s:e])
                items.append(_item("masked_sentence", query, c, span))
                continue
        tf = Counter(_terms(c.text))
        if not tf:
            continue
        scored = sorted(
            tf, key=lambda t: (-(1 + math.log(tf[t])) * math.log(len(chunks) / df[t]), t)
        )
        query = " ".join(scored[:keywords])
        items.append(_item("keywords", query, c, (c.start, c.end, c.text)))
    return items


def _item(kind: str, query: str, c: ChunkRow, span: tuple[int, int, str]) -> dict[str, Any]:
    return {
        "kind": kind,
        "query": query,
        "novel_id": str(c.novel_id),
        "chapter_index": c.chapter_index,
        "start": span[0],
        "end": span[1],
        "answer_sha256": hashlib.sha256(span[2].encode()).hexdigest(),
    }


# eval sets in the database -----------------------------------------------------------------
@dataclass(frozen=True)
class EvalSet:
    id: uuid.UUID
    tenant_id: str
    project_id: str
    novel_id: uuid.UUID | None
    name: str
    kind: str
    items: list[dict[str, Any]]


def _eval_set(row) -> EvalSet:
    m = row._mapping
    return EvalSet(
        m["id"],
        m["tenant_id"],
        m["project_id"],
        m["novel_id"],
        m["name"],
        m["kind"],
        list(m["items"]),
    )


def ensure_auto_eval_set(
    engine: Engine,
    tenant_id: str,
    project_id: str,
    novel_id: uuid.UUID,
    *,
    n_queries: int = 60,
    seed: int = 0,
) -> EvalSet | None:
    """The novel's auto set, built from its chunks on first call (None without chunks)."""
    name = f"auto:v{AUTO_VERSION}:n{n_queries}:s{seed}"
    found = [
        s for s in eval_sets(engine, tenant_id, project_id, novel_id=novel_id) if s.name == name
    ]
    if found:
        return found[0]
    rows = RagStore(engine).chunk_rows(tenant_id, project_id, novel_id=novel_id)
    items = build_auto_items(rows, n_queries=n_queries, seed=seed)
    if not items:
        return None
    return _store_eval_set(engine, tenant_id, project_id, novel_id, name, "auto", items)


def create_manual_eval_set(
    engine: Engine,
    tenant_id: str,
    project_id: str,
    name: str,
    items: list[dict[str, Any]],
    *,
    novel_id: uuid.UUID | None = None,
) -> EvalSet:
    """A hand-written set: items {"query", "answer_text" [, "chapter_index"]} or
    {"query", "relevant_chunk_ids": [...]}."""
    for i, it in enumerate(items):
        if not isinstance(it.get("query"), str) or not it["query"].strip():
            raise NFError("NF-INPUT-001", f"item {i} needs a non-empty query")
        if not it.get("answer_text") and not it.get("relevant_chunk_ids"):
            raise NFError("NF-INPUT-001", f"item {i} needs answer_text or relevant_chunk_ids")
    return _store_eval_set(engine, tenant_id, project_id, novel_id, name, "manual", items)


def _store_eval_set(engine, tenant_id, project_id, novel_id, name, kind, items) -> EvalSet:
    table = T["rag_eval_sets"]
    with engine.begin() as conn:
        row = conn.execute(
            insert(table)
            .values(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                project_id=project_id,
                trace_id=current_trace_id(),
                novel_id=novel_id,
                name=name,
                kind=kind,
                items=items,
            )
            .returning(*table.c)
        ).one()
    return _eval_set(row)


def eval_sets(
    engine: Engine, tenant_id: str, project_id: str, *, novel_id: uuid.UUID | None = None
) -> list[EvalSet]:
    table = T["rag_eval_sets"]
    q = select(table).where(table.c.tenant_id == tenant_id, table.c.project_id == project_id)
    if novel_id is not None:
        q = q.where(table.c.novel_id == novel_id)
    with engine.connect() as conn:
        return [_eval_set(r) for r in conn.execute(q.order_by(table.c.created_at, table.c.name))]


def resolve_relevant(items: Sequence[dict[str, Any]], chunks: Sequence[ChunkRow]) -> list[set[str]]:
    """Relevant chunk ids per item among `chunks` (the project's chunk rows)."""
    by_chapter: dict[tuple[str, int], list[ChunkRow]] = {}
    for c in chunks:
        by_chapter.setdefault((str(c.novel_id), c.chapter_index), []).append(c)
    ids = {c.id for c in chunks}
    out: list[set[str]] = []
    for it in items:
        if it.get("relevant_chunk_ids"):
            out.append({cid for cid in it["relevant_chunk_ids"] if cid in ids})
        elif "start" in it:
            s, e = int(it["start"]), int(it["end"])
            rel = set()
            for c in by_chapter.get((it["novel_id"], int(it["chapter_index"])), []):
                if c.start <= s and c.end >= e:
                    piece = c.text[s - c.start : e - c.start]
                    if hashlib.sha256(piece.encode()).hexdigest() == it["answer_sha256"]:
                        rel.add(c.id)
            out.append(rel)
        else:
            answer = it["answer_text"]
            chapter = it.get("chapter_index")
            out.append(
                {
                    c.id
                    for c in chunks
                    if answer in c.text and (chapter is None or c.chapter_index == chapter)
                }
            )
    return out


# evaluation --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalOutcome:
    result_id: uuid.UUID
    version_id: uuid.UUID
    eval_set_id: uuid.UUID
    metrics: Metrics
    method: str
    unresolved: int
    seconds: float


def evaluate_version(
    engine: Engine,
    version: VersionInfo | uuid.UUID | str,
    eval_set: EvalSet,
    *,
    k: int = 10,
    method: str = "exact",
    store: ArtifactStore | None = None,
    trigger: str = "manual",
) -> EvalOutcome:
    """Run every query of `eval_set` against the version's index and store one result row."""
    info = version if isinstance(version, VersionInfo) else get_version(version, engine=engine)
    if (info.tenant_id, info.project_id) != (eval_set.tenant_id, eval_set.project_id):
        raise NFError("NF-TENANCY-001", "eval set and version belong to different projects")
    rag = RagStore(engine)
    t0 = time.perf_counter()
    chunks = rag.chunk_rows(info.tenant_id, info.project_id, novel_id=eval_set.novel_id)
    relevant = resolve_relevant(eval_set.items, chunks)
    live = [i for i, rel in enumerate(relevant) if rel]
    ranked: list[list[str]] = [[] for _ in eval_set.items]
    if live:
        embedder = backends.build_embedder(info.backend, info.backend_params, store=store)
        qv = np.asarray(
            embedder.embed([eval_set.items[i]["query"] for i in live]).vectors, dtype=np.float32
        )
        hits = rag.search(
            info.tenant_id,
            info.project_id,
            info.id,
            qv,
            k,
            method=method,
            novel_id=eval_set.novel_id,
        )
        for i, row in zip(live, hits, strict=True):
            ranked[i] = [h.chunk_id for h in row]
    metrics = compute_metrics(ranked, relevant, k)
    seconds = time.perf_counter() - t0
    kinds = Counter(eval_set.items[i].get("kind", "manual") for i in live)
    details = {
        "method": method,
        "trigger": trigger,
        "seconds": round(seconds, 4),
        "unresolved": len(eval_set.items) - len(live),
        "kinds": dict(kinds),
        "ranks": metrics.ranks,
        "version_name": info.name,
        "version_status": str(info.status),
        "eval_set_name": eval_set.name,
    }
    table = T["rag_eval_results"]
    with engine.begin() as conn:
        rid = conn.execute(
            insert(table)
            .values(
                id=uuid.uuid4(),
                tenant_id=info.tenant_id,
                project_id=info.project_id,
                trace_id=current_trace_id(),
                eval_set_id=eval_set.id,
                embedding_version_id=info.id,
                k=k,
                recall_at_k=metrics.recall_at_k,
                mrr=metrics.mrr,
                n_queries=metrics.n_queries,
                details=details,
            )
            .returning(table.c.id)
        ).scalar_one()
    return EvalOutcome(rid, info.id, eval_set.id, metrics, method, details["unresolved"], seconds)


def results(
    engine: Engine, version_id: uuid.UUID, *, eval_set_id: uuid.UUID | None = None
) -> list[dict[str, Any]]:
    """Stored results of a version, newest first."""
    table = T["rag_eval_results"]
    q = select(table).where(table.c.embedding_version_id == version_id)
    if eval_set_id is not None:
        q = q.where(table.c.eval_set_id == eval_set_id)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(table.c.created_at.desc(), table.c.id)).all()
    return [dict(r._mapping) for r in rows]


def latest_summary(version_id: uuid.UUID, *, engine: Engine | None = None) -> dict[str, Any]:
    """The newest result per eval set and their query-weighted means."""
    if engine is None:
        from shared.db import get_engine

        engine = get_engine()
    latest: dict[uuid.UUID, dict[str, Any]] = {}
    for r in results(engine, version_id):
        latest.setdefault(r["eval_set_id"], r)
    return summarize(latest.values())


def summarize(rows) -> dict[str, Any]:
    rows = list(rows)
    n = sum(r["n_queries"] for r in rows)
    return {
        "eval_sets": {
            str(r["eval_set_id"]): {
                "k": r["k"],
                "recall_at_k": r["recall_at_k"],
                "mrr": r["mrr"],
                "n_queries": r["n_queries"],
                "at": r["created_at"].isoformat(),
                "result_id": str(r["id"]),
            }
            for r in rows
        },
        "n_queries": n,
        "recall_at_k": sum(r["recall_at_k"] * r["n_queries"] for r in rows) / n if n else None,
        "mrr": sum(r["mrr"] * r["n_queries"] for r in rows) / n if n else None,
    }
