"""Embedding a project's chunks for one embedding version (incremental) and syncing pgvector."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass

import numpy as np
from sqlalchemy import Engine

from nf_services.providers.base import Usage
from nf_services.rag import backends, governance
from nf_services.rag.governance import VersionInfo
from nf_services.rag.store import RagStore
from shared.errors import NFError
from shared.models.enums import EmbeddingStatus
from shared.storage import ArtifactStore

FIT_MAX_TEXTS = 20_000
DEFAULT_VERSION_NAME = "default-char-ngram"


@dataclass(frozen=True)
class IndexReport:
    version_id: str
    version_name: str
    status: str
    backend: str
    dimensions: int
    embedded: int  # vectors computed in this call
    total: int  # chunks of the novel (or project) with a vector for the version
    fitted: bool
    pgvector_rows: int | None  # rows in the HNSW side table; None without pgvector
    seconds: float

    def to_dict(self) -> dict:
        return asdict(self)


def _fit_texts(rag: RagStore, info: VersionInfo) -> list[str]:
    rows = rag.chunk_rows(info.tenant_id, info.project_id)
    if len(rows) > FIT_MAX_TEXTS:  # evenly spaced: every part of every novel is represented
        step = len(rows) / FIT_MAX_TEXTS
        rows = [rows[int(i * step)] for i in range(FIT_MAX_TEXTS)]
    return [r.text for r in rows]


def index_version(
    engine: Engine,
    version: VersionInfo,
    *,
    store: ArtifactStore,
    trace_id: str,
    novel_id: uuid.UUID | None = None,
    batch_size: int = 256,
    usages: list[Usage] | None = None,
) -> IndexReport:
    """Embed the chunks (of one novel, or the whole project) that have no vector for `version`
    yet. A backend that needs fitting (LSA) is fitted first on the project's chunks."""
    t0 = time.perf_counter()
    rag = RagStore(engine)
    info = version
    fitted = False
    if backends.needs_fit(info.backend, info.params):
        texts = _fit_texts(rag, info)
        if len(texts) < 2:
            raise NFError("NF-RAG-003", f"{info.name}: not enough chunks to fit the model yet")
        params = backends.fit(info.backend, info.backend_params, texts, store)
        info = governance.set_fitted_params(
            info.id, params, int(params["dimensions"]), engine=engine
        )
        fitted = True
    embedder = backends.build_embedder(info.backend, info.backend_params, store=store)
    if embedder.dimensions and embedder.dimensions != info.dimensions:
        raise NFError(
            "NF-RAG-002",
            f"{info.name}: backend gives {embedder.dimensions} "
            f"dimensions, the version says {info.dimensions}",
        )
    missing = rag.chunk_rows(
        info.tenant_id, info.project_id, novel_id=novel_id, missing_for_version=info.id
    )
    for s in range(0, len(missing), batch_size):
        part = missing[s : s + batch_size]
        result = embedder.embed([c.text for c in part])
        if usages is not None:
            usages.append(result.usage)
        rag.write_embeddings(
            tenant_id=info.tenant_id,
            project_id=info.project_id,
            trace_id=trace_id,
            version_id=info.id,
            dimensions=info.dimensions,
            chunk_ids=[c.id for c in part],
            vectors=np.asarray(result.vectors, dtype=np.float32),
        )
    total = rag.coverage(info.tenant_id, info.project_id, info.id, novel_id=novel_id)[1]
    pgv = rag.sync_pgvector(info.tenant_id, info.project_id, info.id, info.dimensions)
    return IndexReport(
        str(info.id),
        info.name,
        str(info.status),
        info.backend,
        info.dimensions,
        len(missing),
        total,
        fitted,
        pgv,
        time.perf_counter() - t0,
    )


def versions_to_index(engine: Engine, tenant_id: str, project_id: str) -> list[VersionInfo]:
    """Active and candidate versions; a project with no version at all gets the default one
    (char n-gram, activated) so retrieval works out of the box."""
    versions = governance.list_versions(tenant_id, project_id, engine=engine)
    if not versions:
        governance.create_version(
            tenant_id,
            project_id,
            name=DEFAULT_VERSION_NAME,
            backend="char-ngram",
            created_by="system:bootstrap",
            reason="first index of the project",
            engine=engine,
        )
        governance.bootstrap_active(tenant_id, project_id, DEFAULT_VERSION_NAME, engine=engine)
        versions = governance.list_versions(tenant_id, project_id, engine=engine)
    live = (EmbeddingStatus.ACTIVE, EmbeddingStatus.CANDIDATE)
    return [v for v in versions if v.status in live]
