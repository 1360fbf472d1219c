"""SKILL_17 experiments end to end on seeded data: assignment, metrics, decision, proposal."""

from __future__ import annotations

import uuid
from decimal import Decimal

import numpy as np
import pytest
from sqlalchemy import func, insert, select

from nf_services.governance import experiment_metrics, experiments, proposals
from nf_services.governance.roles import SYSTEM
from nf_skills import s17_experiment
from shared.errors import NFError
from shared.models import Base

from .conftest import World, trace

T = Base.metadata.tables


def _create(
    w: World, name: str = "exp", metric: str = "gate_pass", min_samples: int = 30, **kw
) -> dict:
    return experiments.create_experiment(
        w.engine,
        tenant_id=w.tenant,
        project_id=w.project,
        name=name,
        target="SKILL_13",
        control_ref="1.0.0",
        candidate_ref="1.1.0",
        metric=metric,
        min_samples=min_samples,
        actor=w.email("editor"),
        **kw,
    )


def _materialize(w: World, exp: dict, n_units: int, outcome, *, cost=None) -> dict[str, str]:
    """Assign `n_units` chapters of one novel and run each with its variant's version:
    `outcome(variant, i) -> (content_passed, latency_ms)`; both gates recorded per chapter."""
    nid, key = w.novel()
    rid = w.run(nid)
    units = [experiments.unit_id(key, i) for i in range(n_units)]
    assigned = experiments.assign_units(w.engine, exp["id"], units)
    jobs, gates, ledger = [], [], []
    for i, u in enumerate(units):
        variant = assigned[u]
        passed, latency = outcome(variant, i)
        jid = uuid.uuid4()
        common = {"tenant_id": w.tenant, "project_id": w.project, "trace_id": trace()}
        jobs.append(
            {
                **common,
                "id": jid,
                "idempotency_key": f"j{jid}",
                "run_id": rid,
                "novel_id": nid,
                "chapter_index": i,
                "skill_id": "SKILL_13",
                "skill_version": exp["control_ref"]
                if variant == "control"
                else exp["candidate_ref"],
                "status": "succeeded",
                "stage": "storyboard",
                "duration_ms": latency,
            }
        )
        gates.append(
            {
                **common,
                "id": uuid.uuid4(),
                "run_id": rid,
                "novel_id": nid,
                "chapter_index": i,
                "gate": "SKILL_16",
                "passed": passed,
                "metrics": {"coverage": 0.9 if passed else 0.4},
            }
        )
        gates.append(
            {
                **common,
                "id": uuid.uuid4(),
                "run_id": rid,
                "novel_id": nid,
                "chapter_index": i,
                "gate": "SKILL_18",
                "passed": True,
                "metrics": {},
            }
        )
        if cost:
            ledger.append(
                {
                    **common,
                    "id": uuid.uuid4(),
                    "idempotency_key": f"u{jid}",
                    "job_id": jid,
                    "run_id": rid,
                    "skill_id": "SKILL_13",
                    "provider": "offline",
                    "units": 1.0,
                    "unit": "call",
                    "cost_usd": Decimal(str(cost(variant, i))),
                }
            )
    with w.engine.begin() as conn:
        conn.execute(insert(T["jobs"]), jobs)
        conn.execute(insert(T["gate_results"]), gates)
        if ledger:
            conn.execute(insert(T["usage_ledger"]), ledger)
    return assigned


def per_arm(rule):
    """An outcome function of a unit's rank within its own arm. Unit ids (and so the split)
    change per run; ranking per arm keeps each arm's rate fixed, so the statistics are exact
    rather than subject to the test's own alpha."""
    seen = {"control": 0, "candidate": 0}

    def outcome(variant: str, i: int):
        k = seen[variant]
        seen[variant] += 1
        return rule(variant, k)

    return outcome


def test_assignment_is_deterministic_and_persisted(world: World) -> None:
    w = world
    exp = _create(w, weights=(0.5, 0.5))
    units = [f"{w.tenant}.{w.project}.novel:{i}" for i in range(200)]
    first = experiments.assign_units(w.engine, exp["id"], units)
    expected = {
        u: s17_experiment.assign_variant(str(exp["id"]), u, ["control", "candidate"], [0.5, 0.5])
        for u in units
    }
    assert first == expected
    assert 60 < sum(v == "candidate" for v in first.values()) < 140  # both arms materialize
    # The stored assignment wins even if the weights are changed afterwards.
    with w.engine.begin() as conn:
        e = T["experiments"]
        conn.execute(
            e.update().where(e.c.id == exp["id"]).values(result={"config": {"weights": [1.0, 0.0]}})
        )
    assert experiments.assign_units(w.engine, exp["id"], units) == first
    new = experiments.assign_units(w.engine, exp["id"], ["fresh:1"])
    assert new == {"fresh:1": "control"}  # weights now send every new unit to control
    with w.engine.connect() as conn:
        va = T["variant_assignments"]
        assert (
            conn.execute(select(func.count()).where(va.c.experiment_id == exp["id"])).scalar()
            == 201
        )
    u = units[0]
    assert (
        experiments.ref_for_unit(w.engine, "exp", u, tenant_id=w.tenant, project_id=w.project)
        == {"control": "1.0.0", "candidate": "1.1.0"}[first[u]]
    )


def test_truly_better_candidate_is_detected_and_opens_a_proposal(world: World) -> None:
    w = world
    exp = _create(w)
    # control passes 7 chapters in 10, the candidate 24 in 25
    passes = {"control": lambda k: k % 10 < 7, "candidate": lambda k: k % 25 != 0}
    assigned = _materialize(w, exp, 300, per_arm(lambda v, k: (passes[v](k), 1000)))
    done = experiments.decide_experiment(w.engine, exp["id"], actor=SYSTEM)
    decision = done["result"]["decision"]
    assert done["decision"] == "promote_candidate" and done["status"] == "decided"
    assert done["p_value"] < 1e-6 and done["effect_size"] > 0.5
    assert decision["mean_candidate"] > decision["mean_control"]
    v = done["result"]["variants"]
    assert v["candidate"]["gate_pass_rate"] > v["control"]["gate_pass_rate"]
    assert v["control"]["units"] + v["candidate"]["units"] == 300
    assert set(v["candidate"]["content"]) == {"coverage"}

    prop = proposals.get_proposal(w.engine, done["result"]["proposal_id"])
    assert (prop["kind"], prop["target"], prop["from_ref"], prop["to_ref"]) == (
        "skill_version",
        "SKILL_13",
        "1.0.0",
        "1.1.0",
    )
    assert prop["status"] == "in_review" and prop["created_by"] == SYSTEM
    assert prop["idempotency_key"] == f"experiment:{exp['id']}"
    assert "SKILL_17 experiment exp" in prop["reason"]
    with pytest.raises(NFError) as e:  # decided experiments are final
        experiments.decide_experiment(w.engine, exp["id"])
    assert e.value.code == "NF-GOV-001"
    # After the decision a unit keeps its arm; a new unit runs the control until promotion.
    cand = next(u for u, v in assigned.items() if v == "candidate")
    assert experiments.ref_for_unit(w.engine, exp["id"], cand) == "1.1.0"
    assert experiments.ref_for_unit(w.engine, exp["id"], "other.unit:1") == "1.0.0"


def test_candidate_that_is_not_better_is_not_promoted(world: World) -> None:
    w = world
    exp = _create(w)
    _materialize(w, exp, 300, per_arm(lambda v, k: (k % 5 != 0, 1000)))  # 80% in both arms
    done = experiments.decide_experiment(w.engine, exp["id"])
    assert done["decision"] == "no_difference" and done["p_value"] > 0.5
    assert "proposal_id" not in done["result"]
    assert proposals.list_proposals(w.engine, w.tenant, w.project) == []


def test_slower_candidate_keeps_control(world: World) -> None:
    w = world
    rng = np.random.default_rng(19)
    exp = _create(w, metric="latency_ms")
    mean = {"control": 1000, "candidate": 1200}  # two standard deviations apart
    _materialize(w, exp, 120, lambda v, i: (True, int(rng.normal(mean[v], 100))))
    done = experiments.decide_experiment(w.engine, exp["id"])
    assert done["decision"] == "keep_control"  # significant, in the wrong direction
    assert done["effect_size"] > 1  # Cohen's d on latency: candidate minus control


def test_too_few_samples_raise_and_keep_running(world: World) -> None:
    w = world
    exp = _create(w, min_samples=50)
    _materialize(w, exp, 40, lambda v, i: (True, 1000))
    with pytest.raises(NFError) as e:
        experiments.decide_experiment(w.engine, exp["id"])
    assert e.value.code == "NF-GOV-003"
    stored = experiments.get_experiment(w.engine, exp["id"])
    assert stored["status"] == "running" and stored["p_value"] is None
    assert stored["decision"] == "insufficient_data"
    assert stored["result"]["variants"]["control"]["units"] > 0  # interim numbers kept


def test_unit_run_with_the_wrong_version_is_left_out(world: World) -> None:
    w = world
    exp = _create(w, min_samples=2)
    assigned = _materialize(w, exp, 10, lambda v, i: (True, 1000))
    nid, key = w.novel()
    rid = w.run(nid)
    unit = experiments.unit_id(key, 0)
    variant = experiments.assign_units(w.engine, exp["id"], [unit])[unit]
    wrong = "1.1.0" if variant == "control" else "1.0.0"  # e.g. served from the cache
    w.job(rid, nid, 0, "SKILL_13", wrong)
    with w.engine.connect() as conn:
        e = experiments.find_experiment(conn, exp["id"])
        obs = experiment_metrics.observations(conn, e)
    assert len(obs) == 10 and unit not in set(obs["unit_id"])
    assert sorted(obs["unit_id"]) == sorted(assigned)


def test_cost_latency_and_feedback_per_variant(world: World) -> None:
    w = world
    exp = _create(w, metric="rating", min_samples=5)
    latency = {"control": 1000, "candidate": 600}
    price = {"control": 0.02, "candidate": 0.01}
    _materialize(w, exp, 20, lambda v, i: (True, latency[v]), cost=lambda v, i: price[v])
    rows = []
    for version, ratings in (
        ("1.0.0", [2, 3, 2, 3, 2, 3, 2, 3]),
        ("1.1.0", [4, 5, 4, 5, 4, 5, 4, 5]),
    ):
        for n, r in enumerate(ratings):
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": w.tenant,
                    "project_id": w.project,
                    "trace_id": trace(),
                    "target_kind": "panel",
                    "target_id": f"p{n}",
                    "rating": r,
                    "tags": ["wrong character"] if r <= 2 else [],
                    "skill_id": "SKILL_13",
                    "skill_version": version,
                }
            )
    with w.engine.begin() as conn:
        conn.execute(insert(T["feedback"]), rows)
    with w.engine.connect() as conn:
        e = experiments.find_experiment(conn, exp["id"])
        summary = experiment_metrics.variant_summary(conn, e)
        control, candidate = experiment_metrics.samples(conn, e)
    assert summary["control"]["latency_ms_mean"] == 1000
    assert summary["candidate"]["latency_ms_mean"] == 600
    assert summary["control"]["cost_usd_mean"] == pytest.approx(0.02)
    assert summary["candidate"]["cost_usd_mean"] == pytest.approx(0.01)
    assert summary["control"]["feedback"]["mean_rating"] == 2.5
    assert summary["control"]["feedback"]["negative_tags"] == ["wrong character"]
    assert summary["candidate"]["feedback"]["share_negative"] == 0
    assert sorted(control) == [2.0] * 4 + [3.0] * 4 and len(candidate) == 8
    done = experiments.decide_experiment(w.engine, exp["id"], open_proposal=False)
    assert done["decision"] == "promote_candidate"
    assert proposals.list_proposals(w.engine, w.tenant, w.project) == []


def test_create_validates(world: World) -> None:
    w = world
    for kw, code in (
        ({"name": "Bad Name"}, "NF-INPUT-006"),
        ({"metric": "vibes"}, "NF-INPUT-001"),
        ({"min_samples": 1}, "NF-INPUT-001"),
    ):
        with pytest.raises(NFError) as e:
            _create(w, **kw)
        assert e.value.code == code
    _create(w, name="dup")
    with pytest.raises(NFError) as e:
        _create(w, name="dup")
    assert e.value.code == "NF-DB-002"
    with pytest.raises(NFError) as e:
        experiments.create_experiment(
            w.engine,
            tenant_id=w.tenant,
            project_id=w.project,
            name="v",
            target="SKILL_13",
            control_ref="a",
            candidate_ref="b",
            actor=w.email("viewer"),
        )
    assert e.value.code == "NF-AUTH-004"
