"""Indexing a real chapter set, retrieval of a known chunk, search paths, tenant isolation."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from nf_services.rag import governance, indexing
from nf_services.rag.retrieval import retrieve, retriever
from nf_services.rag.store import RagStore
from shared.errors import NFError
from tests.rag.conftest import N_CHAPTERS, load_novel

pytestmark = pytest.mark.pg


@pytest.fixture(scope="module")
def indexed(xiyouji):
    versions = indexing.versions_to_index(xiyouji.engine, xiyouji.tenant, xiyouji.project)
    reports = [
        indexing.index_version(xiyouji.engine, v, store=xiyouji.store, trace_id=uuid.uuid4().hex)
        for v in versions
    ]
    return xiyouji, versions, reports


def _probe(chunk, length: int = 24) -> str:
    """A slice from the middle of a chunk: inside it, outside the overlap with neighbours."""
    mid = len(chunk.text) // 2
    return chunk.text[mid - length // 2 : mid + length // 2]


def test_first_index_bootstraps_an_active_default_and_embeds_every_chunk(indexed):
    x, versions, reports = indexed
    assert [(v.name, v.status) for v in versions] == [
        (indexing.DEFAULT_VERSION_NAME, governance.EmbeddingStatus.ACTIVE)
    ]
    assert len({c.chapter_index for c in x.chunks}) == N_CHAPTERS
    assert reports[0].embedded == reports[0].total == len(x.chunks)
    again = indexing.index_version(x.engine, versions[0], store=x.store, trace_id=uuid.uuid4().hex)
    assert again.embedded == 0 and again.total == len(x.chunks)  # incremental: nothing to redo


def test_retrieval_finds_the_known_chunk_with_exact_offsets(indexed):
    x, _, _ = indexed
    chapters = {c.index: c for c in x.chapters}
    for chunk in (x.chunks[5], x.chunks[len(x.chunks) // 2], x.chunks[-3]):
        probe = _probe(chunk)
        got = retrieve(x.tenant, x.project, probe, 3, engine=x.engine, store=x.store)
        top = got.chunks[0]
        assert probe in top.text, (probe, top.text)
        assert top.novel_id == str(x.novel_id)
        assert chapters[top.chapter_index].text[top.start : top.end] == top.text
        assert got.chunks[0].score >= got.chunks[1].score >= got.chunks[2].score


def test_search_paths_agree(indexed, monkeypatch):
    from nf_services.rag import store as store_mod

    x, versions, _ = indexed
    store = RagStore(x.engine)
    active = versions[0]
    emb = indexing.backends.build_embedder(active.backend, active.backend_params)
    probes = [_probe(c) for c in x.chunks[::25]]
    q = np.asarray(emb.embed(probes).vectors, dtype=np.float32)
    exact = store.search(x.tenant, x.project, active.id, q, 5, method="exact")
    sql = store.search(x.tenant, x.project, active.id, q, 5, method="sql")
    assert [[h.chunk_id for h in r] for r in sql] == [[h.chunk_id for h in r] for r in exact]
    assert np.allclose([h.score for h in sql[0]], [h.score for h in exact[0]], atol=1e-4)
    m = store.matrix(x.tenant, x.project, active.id)
    ivf = store.search(x.tenant, x.project, active.id, q, 5, method="ivf", nprobe=10**6)
    assert m.ivf is not None
    assert [[h.chunk_id for h in r] for r in ivf] == [[h.chunk_id for h in r] for r in exact]
    assert store.auto_method(x.tenant, x.project, active.id) == "exact"  # small: full scan
    monkeypatch.setattr(store_mod, "EXACT_MAX_ROWS", 10)
    big = store.auto_method(x.tenant, x.project, active.id)
    if not store.pgvector_available():
        assert big == "ivf"
        pytest.skip("this PostgreSQL has no pgvector; exact, sql and ivf paths checked")
    assert big == "pgvector" and store.pgvector_ready(active.id)
    pgv = store.search(x.tenant, x.project, active.id, q, 5, method="pgvector", ef_search=200)
    assert [r[0].chunk_id for r in pgv] == [r[0].chunk_id for r in exact]


def test_rechunking_keeps_unchanged_vectors_and_drops_vanished_ones(indexed):
    x, versions, _ = indexed
    store = RagStore(x.engine)
    kept = x.chunks[:-2]  # the last two chunks vanish
    w = store.write_chunks(
        tenant_id=x.tenant,
        project_id=x.project,
        trace_id=uuid.uuid4().hex,
        novel_id=x.novel_id,
        chunks=kept,
    )
    assert (w.inserted, w.kept, w.deleted) == (0, len(kept), 2)
    assert store.coverage(x.tenant, x.project, versions[0].id) == (len(kept), len(kept))
    w = store.write_chunks(
        tenant_id=x.tenant,
        project_id=x.project,
        trace_id=uuid.uuid4().hex,
        novel_id=x.novel_id,
        chunks=x.chunks,
    )
    assert (w.inserted, w.deleted) == (2, 0)
    report = indexing.index_version(x.engine, versions[0], store=x.store, trace_id=uuid.uuid4().hex)
    assert report.embedded == 2


def test_tenant_and_project_filters_hold(indexed, artifact_store):
    a, versions, _ = indexed
    # Another tenant holds the very same chapters: identical texts, different rows.
    b = load_novel(
        a.engine, artifact_store, f"t{uuid.uuid4().hex[:8]}", a.project, "zh_xiyouji.txt", 3
    )
    for v in indexing.versions_to_index(b.engine, b.tenant, b.project):
        indexing.index_version(b.engine, v, store=artifact_store, trace_id=uuid.uuid4().hex)
    a_ids = {r.id for r in RagStore(a.engine).chunk_rows(a.tenant, a.project)}
    probe = _probe(b.chunks[4])
    got_b = retrieve(b.tenant, b.project, probe, 20, engine=b.engine, store=artifact_store)
    assert got_b.chunks and probe in got_b.chunks[0].text
    assert {c.novel_id for c in got_b.chunks} == {str(b.novel_id)}
    assert not {c.chunk_id for c in got_b.chunks} & a_ids
    got_a = retrieve(a.tenant, a.project, probe, 20, engine=a.engine, store=artifact_store)
    assert {c.novel_id for c in got_a.chunks} == {str(a.novel_id)}
    # A's version id is refused in B's scope, and the store returns nothing across tenants.
    with pytest.raises(NFError) as err:
        retrieve(b.tenant, b.project, probe, 5, version_id=versions[0].id, engine=b.engine)
    assert err.value.code == "NF-INPUT-010"
    emb = indexing.backends.build_embedder("char-ngram", {})
    q = np.asarray(emb.embed([probe]).vectors, dtype=np.float32)
    for method in ("exact", "sql", "ivf"):
        assert RagStore(a.engine).search(
            b.tenant, b.project, versions[0].id, q, 5, method=method
        ) == [[]]
    with pytest.raises(NFError) as err:
        retrieve(a.tenant, "other-project", probe, 5, engine=a.engine)
    assert err.value.code == "NF-RAG-001"
    # what a skill gets: chunks of its own project, or no context at all
    assert retriever(a.tenant, "other-project", engine=a.engine)(probe, 5) == []
    fetched = retriever(b.tenant, b.project, novel_id=b.novel_id, engine=b.engine)(probe, 2)
    assert [c.chunk_id for c in fetched] == [c.chunk_id for c in got_b.chunks[:2]]


def test_without_pgvector_everything_falls_back(indexed, monkeypatch):
    """What CI's PostgreSQL 15 (no pgvector) sees: no side table, exact/ivf paths only."""
    from nf_services.rag import store as store_mod

    x, versions, _ = indexed
    monkeypatch.setitem(store_mod._PGV_CACHE, str(x.engine.url), False)
    v = governance.create_version(
        x.tenant,
        x.project,
        name=f"nopgv-{uuid.uuid4().hex[:6]}",
        backend="char-ngram",
        params={"dimensions": 128},
        created_by="ci",
        engine=x.engine,
    )
    report = indexing.index_version(x.engine, v, store=x.store, trace_id=uuid.uuid4().hex)
    assert report.pgvector_rows is None and report.total == len(x.chunks)
    store = RagStore(x.engine)
    assert not store.pgvector_ready(v.id)
    monkeypatch.setattr(store_mod, "EXACT_MAX_ROWS", 10)
    assert store.auto_method(x.tenant, x.project, v.id) == "ivf"
    probe = _probe(x.chunks[11])
    got = retrieve(x.tenant, x.project, probe, 3, version_id=v.id, engine=x.engine)
    assert got.method == "ivf" and probe in got.chunks[0].text
