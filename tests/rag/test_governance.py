"""Version lifecycle, the promotion gate, evaluation rows, and rollback/promote suggestions."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from sqlalchemy import select

from nf_services.rag import eval as rag_eval
from nf_services.rag import governance, indexing, suggestions
from nf_services.rag.governance import EmbeddingStatus as S
from nf_services.rag.store import RagStore
from shared.errors import NFError
from shared.models import Base

pytestmark = pytest.mark.pg
T = Base.metadata.tables


@pytest.fixture
def project(xiyouji):
    """A fresh project (own versions and suggestions) over the module's chunks."""
    from nf_services.novels import ensure_tenant_project
    from tests.rag.conftest import load_novel

    name = f"p{uuid.uuid4().hex[:8]}"
    ensure_tenant_project(xiyouji.engine, xiyouji.tenant, name)
    return load_novel(xiyouji.engine, xiyouji.store, xiyouji.tenant, name, "zh_xiyouji.txt", 4)


def _version(p, name: str, backend: str = "char-ngram", params: dict | None = None):
    v = governance.create_version(
        p.tenant,
        p.project,
        name=name,
        backend=backend,
        params=params,
        created_by="alice",
        reason="test",
        engine=p.engine,
    )
    indexing.index_version(p.engine, v, store=p.store, trace_id=uuid.uuid4().hex)
    return governance.get_version(v.id, engine=p.engine)


def _evaluate(p, version, eval_set):
    return rag_eval.evaluate_version(p.engine, version, eval_set, k=10, store=p.store)


def test_lifecycle_gate_and_rollback(project):
    p = project
    a = _version(p, "a")
    b = _version(p, "b", params={"dimensions": 256, "n_max": 2})
    assert (a.status, b.status) == (S.CANDIDATE, S.CANDIDATE)
    assert a.params["lifecycle"][0]["action"] == "create"
    with pytest.raises(NFError) as err:
        governance.create_version(
            p.tenant, p.project, name="a", backend="char-ngram", created_by="x", engine=p.engine
        )
    assert err.value.code == "NF-DB-002"

    seen = []

    def refuse(req: governance.PromotionRequest) -> bool:
        seen.append(req)
        return False

    with pytest.raises(NFError) as err:
        governance.promote(a.id, "bob", "go live", gate=refuse, engine=p.engine)
    assert err.value.code == "NF-GOV-002"
    assert seen[0].version.id == a.id and seen[0].current_active is None
    assert governance.get_version(a.id, engine=p.engine).status == S.CANDIDATE

    only_bob = lambda req: req.by == "bob"  # noqa: E731
    a = governance.promote(a.id, "bob", "go live", gate=only_bob, engine=p.engine)
    with pytest.raises(NFError) as err:  # the gate refuses anyone else
        governance.promote(b.id, "mallory", "sneak", gate=only_bob, engine=p.engine)
    assert err.value.code == "NF-GOV-002"
    b = governance.promote(b.id, "bob", "wider n-grams", gate=only_bob, engine=p.engine)
    a = governance.get_version(a.id, engine=p.engine)
    assert (a.status, b.status) == (S.RETIRED, S.ACTIVE)
    assert b.promoted_by == "bob" and b.promoted_at is not None
    assert a.retired_at is not None and "replaced by b" in a.reason
    assert governance.active_version(p.tenant, p.project, engine=p.engine).id == b.id

    with pytest.raises(NFError) as err:  # only candidates are promoted
        governance.promote(a.id, "bob", "again", engine=p.engine)
    assert err.value.code == "NF-RAG-003"

    restored = governance.rollback(p.tenant, p.project, "carol", "b misbehaves", engine=p.engine)
    assert restored.id == a.id and restored.status == S.ACTIVE and restored.promoted_by == "carol"
    b = governance.get_version(b.id, engine=p.engine)
    assert b.status == S.RETIRED
    assert [e["action"] for e in b.params["lifecycle"]] == ["create", "promote", "rollback"]
    assert [e["action"] for e in restored.params["lifecycle"]] == [
        "create",
        "promote",
        "replaced",
        "restore",
    ]
    actives = [
        v
        for v in governance.list_versions(p.tenant, p.project, engine=p.engine)
        if v.status == S.ACTIVE
    ]
    assert len(actives) == 1
    c = governance.create_version(
        p.tenant, p.project, name="c", backend="char-ngram", created_by="x", engine=p.engine
    )
    with pytest.raises(NFError) as err:  # a never-active candidate is not a rollback target
        governance.rollback(p.tenant, p.project, "x", "y", to_version_id=c.id, engine=p.engine)
    assert err.value.code == "NF-RAG-003"


def test_stored_eval_row_matches_hand_made_set(project):
    p = project
    v = _version(p, "hand")
    rows = RagStore(p.engine).chunk_rows(p.tenant, p.project, novel_id=p.novel_id)
    target, other = rows[3], rows[10]
    probe = target.text[len(target.text) // 2 - 12 : len(target.text) // 2 + 12]
    items = [
        {"query": probe, "relevant_chunk_ids": [target.id]},
        {"query": probe, "relevant_chunk_ids": [other.id]},  # deliberately wrong answer
        {"query": "unresolvable", "answer_text": "this text is in no chunk"},
    ]
    es = rag_eval.create_manual_eval_set(
        p.engine, p.tenant, p.project, "hand", items, novel_id=p.novel_id
    )
    out = _evaluate(p, v, es)
    ranked = [
        h.chunk_id
        for h in RagStore(p.engine).search(
            p.tenant,
            p.project,
            v.id,
            np.asarray(
                indexing.backends.build_embedder(v.backend, v.backend_params).embed([probe]).vectors
            ),
            10,
            novel_id=p.novel_id,
        )[0]
    ]
    assert ranked[0] == target.id
    rank_other = ranked.index(other.id) + 1 if other.id in ranked else None
    want_recall = (1 + (rank_other is not None)) / 2
    want_mrr = (1 + (1 / rank_other if rank_other else 0)) / 2
    assert out.unresolved == 1 and out.metrics.n_queries == 2
    assert out.metrics.recall_at_k == pytest.approx(want_recall)
    assert out.metrics.mrr == pytest.approx(want_mrr)
    [stored] = rag_eval.results(p.engine, v.id, eval_set_id=es.id)
    assert (stored["recall_at_k"], stored["mrr"], stored["n_queries"], stored["k"]) == (
        pytest.approx(want_recall),
        pytest.approx(want_mrr),
        2,
        10,
    )
    assert stored["details"]["ranks"] == [1, rank_other]


def _break(p, version) -> None:
    """Overwrite a version's vectors with random ones: a corrupted index."""
    store = RagStore(p.engine)
    rows = store.chunk_rows(p.tenant, p.project)
    noise = np.random.default_rng(0).standard_normal((len(rows), version.dimensions))
    store.write_embeddings(
        tenant_id=p.tenant,
        project_id=p.project,
        trace_id=uuid.uuid4().hex,
        version_id=version.id,
        dimensions=version.dimensions,
        chunk_ids=[r.id for r in rows],
        vectors=noise,
    )


def _suggestion_events(p) -> list:
    ev = T["events"]
    with p.engine.connect() as conn:
        return (
            conn.execute(
                select(ev.c.payload).where(
                    ev.c.tenant_id == p.tenant,
                    ev.c.project_id == p.project,
                    ev.c.topic == "rag.suggestion",
                )
            )
            .scalars()
            .all()
        )


def test_broken_version_triggers_rollback_suggestion(project):
    p = project
    good = _version(p, "good")
    governance.promote(good.id, "bob", "first", engine=p.engine)
    es = rag_eval.ensure_auto_eval_set(p.engine, p.tenant, p.project, p.novel_id)
    base = _evaluate(p, good, es)
    assert base.metrics.recall_at_k > 0.6 and base.metrics.n_queries >= 30
    assert [s.kind for s in suggestions.suggest(p.engine, p.tenant, p.project)] == []

    broken = _version(p, "broken", params={"dimensions": 384})
    _break(p, broken)
    bad = _evaluate(p, broken, es)
    assert bad.metrics.recall_at_k < base.metrics.recall_at_k - 0.3
    assert suggestions.suggest(p.engine, p.tenant, p.project) == []  # a bad candidate: no promote

    governance.promote(broken.id, "bob", "looked fine in review", engine=p.engine)
    _evaluate(p, broken, es)  # the scheduled evaluation of the new active version
    [made] = suggestions.suggest(p.engine, p.tenant, p.project)
    assert (made.kind, made.from_version_id, made.to_version_id) == ("rollback", broken.id, good.id)
    assert made.created
    ev = made.evidence
    assert ev["reference_sources"] == {str(es.id): "previous_active"}
    assert ev["drop"]["recall_at_k"] > ev["thresholds"]["max_drop"]
    assert ev["reference"]["recall_at_k"] == pytest.approx(base.metrics.recall_at_k)
    [event] = _suggestion_events(p)
    assert event["kind"] == "rollback" and event["suggestion_id"] == str(made.id)

    again = suggestions.suggest(p.engine, p.tenant, p.project)  # refreshed, not duplicated
    assert [(s.id, s.created) for s in again] == [(made.id, False)]
    assert len(_suggestion_events(p)) == 1

    restored = suggestions.accept(p.engine, made.id, "carol")
    assert restored.id == good.id and restored.status == S.ACTIVE
    [row] = suggestions.list_suggestions(p.engine, p.tenant, p.project, status="accepted")
    assert row["evidence"]["decided_by"] == "carol"
    _evaluate(p, good, es)  # the version that was rolled back is no reference to go back to
    assert suggestions.suggest(p.engine, p.tenant, p.project) == []


def test_same_version_regressing_against_its_baseline(project):
    p = project
    v = _version(p, "drifts")
    governance.promote(v.id, "bob", "first", engine=p.engine)
    es = rag_eval.ensure_auto_eval_set(p.engine, p.tenant, p.project, p.novel_id)
    _evaluate(p, v, es)
    _break(p, v)  # e.g. a re-index with a broken model build
    _evaluate(p, v, es)
    [made] = suggestions.suggest(p.engine, p.tenant, p.project)
    assert made.kind == "rollback" and made.to_version_id is None
    assert made.evidence["reference_sources"] == {str(es.id): "baseline"}
    # repaired (re-embedded): the next round no longer supports the suggestion
    rows = RagStore(p.engine).chunk_rows(p.tenant, p.project)
    vectors = (
        indexing.backends.build_embedder(v.backend, v.backend_params)
        .embed([r.text for r in rows])
        .vectors
    )
    RagStore(p.engine).write_embeddings(
        tenant_id=p.tenant,
        project_id=p.project,
        trace_id=uuid.uuid4().hex,
        version_id=v.id,
        dimensions=v.dimensions,
        chunk_ids=[r.id for r in rows],
        vectors=vectors,
    )
    _evaluate(p, v, es)
    assert suggestions.suggest(p.engine, p.tenant, p.project) == []
    [row] = suggestions.list_suggestions(p.engine, p.tenant, p.project, status="dismissed")
    assert row["id"] == made.id and row["evidence"]["decided_by"] == "system"


def test_better_candidate_gets_a_promote_suggestion(project):
    p = project
    weak = _version(p, "weak", params={"dimensions": 16, "n_min": 1, "n_max": 1})
    governance.promote(weak.id, "bob", "first", engine=p.engine)
    strong = _version(p, "strong")
    es = rag_eval.ensure_auto_eval_set(p.engine, p.tenant, p.project, p.novel_id)
    w, s = _evaluate(p, weak, es), _evaluate(p, strong, es)
    assert s.metrics.recall_at_k > w.metrics.recall_at_k + 0.02
    [made] = suggestions.suggest(p.engine, p.tenant, p.project)
    assert (made.kind, made.from_version_id, made.to_version_id) == ("promote", weak.id, strong.id)
    refused = []
    with pytest.raises(NFError):
        suggestions.accept(p.engine, made.id, "bob", gate=lambda req: refused.append(req) or False)
    assert refused[0].evidence["gain"]["recall_at_k"] > 0
    assert suggestions.accept(p.engine, made.id, "bob", gate=lambda req: True).id == strong.id


def test_operator_dismisses_a_suggestion_from_the_cli(project, capsys):
    from nf_cli.main import main

    p = project
    weak = _version(p, "weak", params={"dimensions": 16, "n_min": 1, "n_max": 1})
    governance.promote(weak.id, "bob", "first", engine=p.engine)
    strong = _version(p, "strong")
    es = rag_eval.ensure_auto_eval_set(p.engine, p.tenant, p.project, p.novel_id)
    _evaluate(p, weak, es), _evaluate(p, strong, es)
    [made] = suggestions.suggest(p.engine, p.tenant, p.project)
    argv = ["rag", "dismiss", str(made.id), "--by", "ops", "--reason", "not this week"]
    assert main(argv) == 0
    [row] = suggestions.list_suggestions(p.engine, p.tenant, p.project, status="dismissed")
    assert row["id"] == made.id
    assert governance.active_version(p.tenant, p.project, engine=p.engine).id == weak.id
    assert main(argv) == 2  # no longer open
    assert json.loads(capsys.readouterr().err)["error_code"] == "NF-RAG-003"
