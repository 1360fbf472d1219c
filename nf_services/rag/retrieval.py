"""The retrieval API skills call: top-k chunks of a project for a text query.

Uses the project's active embedding version unless a version is named (an evaluation or an
A/B experiment may name a candidate). Always tenant/project-scoped: a version of another project
is refused, and the search itself filters by tenant and project.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from sqlalchemy import Engine

from nf_services.rag import backends, governance
from nf_services.rag.store import Method, RagStore
from shared.errors import NFError
from shared.storage import ArtifactStore

MAX_K = 100


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: str
    score: float
    rank: int
    novel_id: str
    chapter_index: int
    start: int
    end: int
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Retrieval:
    version_id: str
    version_name: str
    method: str
    chunks: list[RetrievedChunk]


def retrieve(
    tenant_id: str,
    project_id: str,
    query: str,
    k: int = 5,
    *,
    novel_id: uuid.UUID | str | None = None,
    version_id: uuid.UUID | str | None = None,
    method: Method = "auto",
    engine: Engine | None = None,
    store: ArtifactStore | None = None,
) -> Retrieval:
    """Top-k chunks for `query`. NF-RAG-001 when the project has no active version (and none
    is named); NF-INPUT-001 for an empty query or k out of 1..100."""
    if not query or not query.strip():
        raise NFError("NF-INPUT-001", "the query is empty")
    if not 1 <= k <= MAX_K:
        raise NFError("NF-INPUT-001", f"k must be within 1..{MAX_K}")
    if engine is None:
        from shared.db import get_engine

        engine = get_engine()
    if version_id is not None:
        info = governance.get_version(
            version_id, tenant_id=tenant_id, project_id=project_id, engine=engine
        )
    else:
        info = governance.require_active(tenant_id, project_id, engine=engine)
    embedder = backends.build_embedder(info.backend, info.backend_params, store=store)
    qv = np.asarray(embedder.embed([query]).vectors, dtype=np.float32)
    rag = RagStore(engine)
    used = method
    nid = uuid.UUID(str(novel_id)) if novel_id is not None else None
    if method == "auto" and nid is None:
        used = rag.auto_method(tenant_id, project_id, info.id)
    [hits] = rag.search(tenant_id, project_id, info.id, qv, k, method=used, novel_id=nid)
    rows = {r.id: r for r in rag.chunk_rows(tenant_id, project_id, ids=[h.chunk_id for h in hits])}
    chunks = [
        RetrievedChunk(
            h.chunk_id,
            h.score,
            h.rank,
            str(rows[h.chunk_id].novel_id),
            rows[h.chunk_id].chapter_index,
            rows[h.chunk_id].start,
            rows[h.chunk_id].end,
            rows[h.chunk_id].text,
        )
        for h in hits
        if h.chunk_id in rows  # a chunk deleted since the index was read is dropped
    ]
    return Retrieval(str(info.id), info.name, used if nid is None else "exact", chunks)


def retriever(
    tenant_id: str,
    project_id: str,
    *,
    novel_id: uuid.UUID | str | None = None,
    engine: Engine | None = None,
    store: ArtifactStore | None = None,
) -> Callable[[str, int], list[RetrievedChunk]]:
    """A `(query, k) -> chunks` callable to hand to a skill (skills stay free of the database).

    A project without an active version yields no context rather than an error: retrieval is
    an aid to the skills that use it, not a precondition.
    """

    def fetch(query: str, k: int = 5) -> list[RetrievedChunk]:
        try:
            return retrieve(
                tenant_id, project_id, query, k, novel_id=novel_id, engine=engine, store=store
            ).chunks
        except NFError as exc:
            if exc.code == "NF-RAG-001":
                return []
            raise

    return fetch
