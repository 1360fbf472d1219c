"""The promotion gate refuses, gate by gate, and says by how much."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import insert, select

from nf_services.governance import experiments, proposals
from nf_services.governance.promotion_gate import GatePolicy, rag_promotion_gate
from shared.errors import NFError
from shared.models import Base

from .conftest import World, trace

T = Base.metadata.tables
NO_EXPERIMENT = GatePolicy(require_experiment=False, min_gate_samples=10, min_pass_rate=0.95)


def _approved(w: World, **kw) -> dict:
    args = {
        "tenant_id": w.tenant,
        "project_id": w.project,
        "kind": "skill_version",
        "target": "SKILL_13",
        "to_ref": "2.0.0",
        "actor": w.email("editor"),
    }
    p = proposals.create_proposal(w.engine, **{**args, **kw})
    proposals.submit(w.engine, p["id"], actor=w.email("editor"))
    proposals.review(w.engine, p["id"], actor=w.email("owner"), approve=True)
    return p


def _refused(w: World, p: dict, policy: GatePolicy | None = NO_EXPERIMENT) -> dict:
    with pytest.raises(NFError) as e:
        proposals.promote(w.engine, p["id"], actor=w.email("owner"), policy=policy)
    assert e.value.code == "NF-GOV-002"
    stored = proposals.get_proposal(w.engine, p["id"])
    assert stored["status"] == "approved"  # refused, not moved
    assert stored["gate_report"] == e.value.context["gate_report"]
    refusal = stored["history"][-1]["payload"]
    assert refusal["refused"] is True and refusal["to_status"] == "approved"
    return {c["gate"]: c for c in stored["gate_report"]["checks"]} | {"_detail": e.value.detail}


def test_content_gate_pass_rate_below_threshold(world: World) -> None:
    w = world
    w.set_active("SKILL_13", "1.0.0")
    w.candidate_runs("SKILL_13", "2.0.0", chapters=20, content_fail=4)  # 16/20 = 0.80
    w.candidate_runs("SKILL_13", "1.0.0", chapters=20, content_fail=20)  # other version: ignored
    checks = _refused(w, _approved(w))
    c = checks["content_gate"]
    assert (c["passed"], c["n"], c["observed"], c["threshold"]) == (False, 20, 0.8, 0.95)
    assert c["shortfall"] == pytest.approx(0.15)
    assert "short by 0.150" in checks["_detail"] and "content_gate" in checks["_detail"]
    assert checks["media_gate"]["passed"] is True


def test_media_gate_pass_rate_below_threshold(world: World) -> None:
    w = world
    w.candidate_runs("SKILL_13", "2.0.0", chapters=30, media_fail=3)  # 27/30 = 0.90
    checks = _refused(w, _approved(w))
    m = checks["media_gate"]
    assert (m["passed"], m["n"], m["observed"]) == (False, 30, 0.9)
    assert m["shortfall"] == pytest.approx(0.05)
    assert checks["content_gate"]["passed"] is True


def test_project_policy_overrides_thresholds(world: World) -> None:
    w = world
    w.candidate_runs("SKILL_13", "2.0.0", chapters=20, content_fail=4)  # 0.80
    w.governance_config(min_pass_rate=0.8, require_experiment=False)
    done = proposals.promote(w.engine, _approved(w)["id"], actor=w.email("owner"))
    assert done["status"] == "promoted"
    assert done["gate_report"]["policy"]["min_pass_rate"] == 0.8


def test_failed_candidate_jobs_count_against_the_gates(world: World) -> None:
    w = world
    w.candidate_runs("SKILL_13", "2.0.0", chapters=18)
    nid, _ = w.novel()
    rid = w.run(nid)
    for i in range(2):  # the candidate crashed on two chapters: no gate ever saw them
        w.job(rid, nid, i, "SKILL_13", "2.0.0", status="failed")
    checks = _refused(w, _approved(w), GatePolicy(require_experiment=False, min_pass_rate=0.95))
    assert checks["content_gate"]["data"]["failed_jobs"] == 2
    assert checks["content_gate"]["observed"] == 0.9  # 18 / 20


def test_too_few_candidate_chapters(world: World) -> None:
    w = world
    w.candidate_runs("SKILL_13", "2.0.0", chapters=4)
    checks = _refused(w, _approved(w))
    assert checks["content_gate"]["n"] == 4 and checks["content_gate"]["shortfall"] == 6


def test_gates_pass_and_promote(world: World) -> None:
    w = world
    w.candidate_runs("SKILL_13", "2.0.0", chapters=40, content_fail=1, media_fail=2)  # .975/.95
    done = proposals.promote(
        w.engine, _approved(w)["id"], actor=w.email("owner"), policy=NO_EXPERIMENT
    )
    assert done["status"] == "promoted" and done["gate_report"]["failed"] == []


def test_experiment_gate_required_and_must_say_promote(world: World) -> None:
    w = world
    w.set_active("SKILL_13", "1.0.0")
    w.candidate_runs("SKILL_13", "2.0.0", chapters=10)
    p = _approved(w)
    missing = _refused(w, p, GatePolicy())
    assert missing["experiment"]["passed"] is False
    assert "no SKILL_17 experiment" in missing["experiment"]["detail"]

    exp = experiments.create_experiment(
        w.engine,
        tenant_id=w.tenant,
        project_id=w.project,
        name="shots-v2",
        target="SKILL_13",
        control_ref="1.0.0",
        candidate_ref="2.0.0",
        metric="latency_ms",
        min_samples=5,
        actor=w.email("editor"),
    )
    # The same latencies in both arms (by rank within the arm): no significant difference.
    nid, key = w.novel()
    rid = w.run(nid)
    units = [experiments.unit_id(key, i) for i in range(40)]
    assigned = experiments.assign_units(w.engine, exp["id"], units)
    rank = {"control": 0, "candidate": 0}
    for i, u in enumerate(units):
        arm = assigned[u]
        ref = "1.0.0" if arm == "control" else "2.0.0"
        w.job(rid, nid, i, "SKILL_13", ref, duration_ms=1000 + (rank[arm] * 37) % 200)
        rank[arm] += 1
    checks = _refused(w, p, GatePolicy())
    e = checks["experiment"]
    assert e["passed"] is False and e["data"]["decision"] == "no_difference"
    assert e["observed"] > e["threshold"] == 0.05
    assert e["shortfall"] == pytest.approx(e["observed"] - 0.05)
    assert "evaluated now" in e["data"]["source"]


def _embedding_version(w: World, name: str, status: str = "candidate") -> uuid.UUID:
    vid = uuid.uuid4()
    with w.engine.begin() as conn:
        conn.execute(
            insert(T["embedding_versions"]).values(
                id=vid,
                tenant_id=w.tenant,
                project_id=w.project,
                trace_id=trace(),
                name=name,
                backend="hash",
                model="hash",
                version="1",
                dimensions=64,
                status=status,
                params={},
            )
        )
    return vid


def _eval(w: World, eval_set: uuid.UUID, version: uuid.UUID, recall: float, mrr: float) -> None:
    with w.engine.begin() as conn:
        conn.execute(
            insert(T["rag_eval_results"]).values(
                id=uuid.uuid4(),
                tenant_id=w.tenant,
                project_id=w.project,
                trace_id=trace(),
                eval_set_id=eval_set,
                embedding_version_id=version,
                k=5,
                recall_at_k=recall,
                mrr=mrr,
                n_queries=50,
            )
        )


def _eval_set(w: World) -> uuid.UUID:
    sid = uuid.uuid4()
    with w.engine.begin() as conn:
        conn.execute(
            insert(T["rag_eval_sets"]).values(
                id=sid,
                tenant_id=w.tenant,
                project_id=w.project,
                trace_id=trace(),
                name="auto",
                kind="auto",
                items=[],
            )
        )
    return sid


def test_rag_regression_refuses_embedding_promotion(world: World) -> None:
    w = world
    base = _embedding_version(w, "emb-a", "active")
    worse = _embedding_version(w, "emb-b")
    better = _embedding_version(w, "emb-c")
    s1, s2 = _eval_set(w), _eval_set(w)
    _eval(w, s1, base, 0.80, 0.60)
    _eval(w, s2, base, 0.70, 0.50)
    _eval(w, s1, worse, 0.85, 0.62)
    _eval(w, s2, worse, 0.64, 0.51)  # recall@5 drops 0.06 on the second set
    _eval(w, s1, better, 0.82, 0.61)
    _eval(w, s2, better, 0.71, 0.50)

    p = _approved(w, kind="embedding_version", target="rag", to_ref="emb-b")
    assert p["from_ref"] == "emb-a"
    checks = _refused(w, p, GatePolicy(rag_tolerance=0.01))
    r = checks["rag_eval"]
    assert r["passed"] is False and r["observed"] == pytest.approx(-0.06)
    assert r["shortfall"] == pytest.approx(0.05)
    assert "recall_at_k@5" in r["detail"]

    p2 = _approved(w, kind="embedding_version", target="rag", to_ref="emb-c")
    done = proposals.promote(
        w.engine, p2["id"], actor=w.email("owner"), policy=GatePolicy(rag_tolerance=0.01)
    )
    assert done["status"] == "promoted"
    ev = T["embedding_versions"]
    with w.engine.connect() as conn:
        rows = dict(
            conn.execute(select(ev.c.name, ev.c.status).where(ev.c.tenant_id == w.tenant)).all()
        )
    assert {k: str(v) for k, v in rows.items()} == {
        "emb-a": "retired",
        "emb-b": "candidate",
        "emb-c": "active",
    }

    proposals.rollback(w.engine, p2["id"], actor=w.email("owner"))
    with w.engine.connect() as conn:
        rows = conn.execute(
            select(ev.c.name, ev.c.status, ev.c.params).where(ev.c.tenant_id == w.tenant)
        ).all()
    assert {r.name: str(r.status) for r in rows} == {
        "emb-a": "active",
        "emb-b": "candidate",
        "emb-c": "retired",
    }
    # RAG governance's lifecycle history saw both switches.
    history = next(r.params["lifecycle"] for r in rows if r.name == "emb-c")
    assert [h["action"] for h in history] == ["promote", "rollback"]


def test_rag_gate_plugs_into_rag_governance(world: World) -> None:
    from nf_services.rag import governance as rag

    w = world
    base = _embedding_version(w, "emb-a", "active")
    worse = _embedding_version(w, "emb-b")
    s1 = _eval_set(w)
    _eval(w, s1, base, 0.80, 0.60)
    _eval(w, s1, worse, 0.80, 0.55)
    with pytest.raises(NFError) as e:
        rag.promote(
            worse,
            by=w.email("owner"),
            reason="try",
            gate=rag_promotion_gate(w.engine),
            engine=w.engine,
        )
    assert e.value.code == "NF-GOV-002" and "mrr@5" in e.value.detail
    assert e.value.context["gate_report"]["shortfall"] == pytest.approx(0.05)


def test_check_outcomes_are_recorded_per_run_and_chapter(world: World) -> None:
    from nf_services.governance.gate_results import ChapterGateOutcome, record_check_outcomes

    w = world
    nid, _ = w.novel()
    rid = w.run(nid)
    with w.engine.connect() as conn:
        runs = T["render_runs"]
        dagster_run = conn.execute(select(runs.c.dagster_run_id).where(runs.c.id == rid)).scalar()
    outs = [
        ChapterGateOutcome(1, True, {"coverage": 0.9, "bad": float("nan")}),
        ChapterGateOutcome(2, False, {"coverage": 0.2}),
    ]
    assert (
        record_check_outcomes(
            w.engine,
            dagster_run_id=dagster_run,
            gate="SKILL_16",
            outcomes=outs,
            gate_version="1.0.0",
        )
        == 2
    )
    # A re-run of the check overwrites its verdicts instead of adding samples.
    record_check_outcomes(
        w.engine,
        dagster_run_id=dagster_run,
        gate="SKILL_16",
        outcomes=[ChapterGateOutcome(2, True, {"coverage": 0.8})],
    )
    g = T["gate_results"]
    with w.engine.connect() as conn:
        rows = conn.execute(
            select(g.c.chapter_index, g.c.passed, g.c.metrics, g.c.novel_id, g.c.tenant_id)
            .where(g.c.run_id == rid)
            .order_by(g.c.chapter_index)
        ).all()
    assert [(r.chapter_index, r.passed, r.metrics) for r in rows] == [
        (1, True, {"coverage": 0.9}),
        (2, True, {"coverage": 0.8}),
    ]
    assert {(r.novel_id, r.tenant_id) for r in rows} == {(nid, w.tenant)}
    assert (
        record_check_outcomes(w.engine, dagster_run_id="not-ours", gate="SKILL_18", outcomes=outs)
        == 0
    )
    with pytest.raises(NFError) as e:
        record_check_outcomes(w.engine, dagster_run_id=dagster_run, gate="SKILL_99", outcomes=outs)
    assert e.value.code == "NF-INPUT-001"


def test_prompt_template_chapters_come_from_the_experiment(world: World) -> None:
    w = world
    with w.engine.begin() as conn:
        for version, status in (("v1", "active"), ("v2", "candidate")):
            conn.execute(
                insert(T["prompt_templates"]).values(
                    id=uuid.uuid4(),
                    tenant_id=w.tenant,
                    project_id=w.project,
                    trace_id=trace(),
                    skill_id="SKILL_20",
                    name="image",
                    version=version,
                    template="{caption}",
                    status=status,
                )
            )
    exp = experiments.create_experiment(
        w.engine,
        tenant_id=w.tenant,
        project_id=w.project,
        name="tpl",
        kind="prompt_template",
        target="SKILL_20/image",
        control_ref="v1",
        candidate_ref="v2",
        min_samples=5,
    )
    nid, key = w.novel()
    rid = w.run(nid)
    assigned = experiments.assign_units(
        w.engine, exp["id"], [experiments.unit_id(key, i) for i in range(60)]
    )
    arm = {int(u.rsplit(":", 1)[1]): v for u, v in assigned.items()}
    candidate = sorted(i for i, v in arm.items() if v == "candidate")
    failing = set(candidate[:3])  # 3 candidate chapters fail the content gate
    w.gate(rid, nid, "SKILL_16", [(i, i not in failing) for i in arm])  # control ones all pass
    w.gate(rid, nid, "SKILL_18", [(i, True) for i in arm])
    p = _approved(w, kind="prompt_template", target="SKILL_20/image", to_ref="v2")
    assert p["from_ref"] == "v1"
    checks = _refused(w, p, GatePolicy())
    c = checks["content_gate"]
    assert c["n"] == len(candidate) and c["data"]["chapters_passed"] == len(candidate) - 3
    assert checks["media_gate"]["passed"] is True
    assert checks["experiment"]["data"]["experiment"] == "tpl"
