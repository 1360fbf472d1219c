"""The proposal flow: every transition, who may do it, and what it leaves behind."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from nf_services.governance import proposals
from nf_services.governance.promotion_gate import GatePolicy
from nf_services.governance.roles import SYSTEM
from shared.errors import NFError
from shared.models import Base

from .conftest import World

T = Base.metadata.tables
# Content/media gates only (the experiment gate has its own tests).
NO_EXPERIMENT = GatePolicy(require_experiment=False, min_gate_samples=10)


def _code(exc_info: pytest.ExceptionInfo[NFError]) -> str:
    return exc_info.value.code


def _draft(w: World, **kw) -> dict:
    args = {
        "tenant_id": w.tenant,
        "project_id": w.project,
        "kind": "skill_version",
        "target": "SKILL_13",
        "to_ref": "1.1.0",
        "actor": w.email("editor"),
    }
    return proposals.create_proposal(w.engine, **{**args, **kw})


def _history(w: World, proposal_id) -> list[dict]:
    return proposals.get_proposal(w.engine, proposal_id)["history"]


def test_full_flow_promotes_and_rolls_back_with_events(world: World) -> None:
    w = world
    w.set_active("SKILL_13", "1.0.0")
    w.candidate_runs("SKILL_13", "1.1.0", chapters=12)
    tr = "ab" * 16
    p = _draft(w, reason="tighter shots", trace_id=tr)
    assert (p["status"], p["from_ref"], p["created_by"]) == ("draft", "1.0.0", w.email("editor"))

    proposals.submit(w.engine, p["id"], actor=w.email("editor"))
    proposals.review(w.engine, p["id"], actor=w.email("owner"), approve=True, reason="looks fine")
    done = proposals.promote(w.engine, p["id"], actor=w.email("owner2"), policy=NO_EXPERIMENT)
    assert done["status"] == "promoted"
    assert done["gate_report"]["passed"] is True
    assert done["reviews"][0]["reviewer"] == w.email("owner")
    assert len(done["promotions"]) == 1 and done["promotions"][0]["rolled_back_at"] is None
    assert (
        proposals.current_ref(w.engine.connect(), "skill_version", w.tenant, w.project, "SKILL_13")
        == "1.1.0"
    )

    back = proposals.rollback(w.engine, p["id"], actor=w.email("owner"), reason="regression")
    assert back["status"] == "rolled_back"
    assert back["promotions"][0]["rolled_back_at"] is not None
    with w.engine.connect() as conn:
        assert (
            proposals.current_ref(conn, "skill_version", w.tenant, w.project, "SKILL_13") == "1.0.0"
        )
        statuses = dict(
            conn.execute(
                text(
                    "SELECT version, status FROM skill_versions "
                    "WHERE tenant_id = :t AND skill_id = 'SKILL_13'"
                ),
                {"t": w.tenant},
            ).all()
        )
    assert statuses == {"1.0.0": "active", "1.1.0": "retired"}

    steps = [
        (h["payload"]["action"], h["payload"]["from_status"], h["payload"]["to_status"])
        for h in back["history"]
    ]
    assert steps == [
        ("create", None, "draft"),
        ("submit", "draft", "in_review"),
        ("approve", "in_review", "approved"),
        ("promote", "approved", "promoted"),
        ("rollback", "promoted", "rolled_back"),
    ]
    # The proposal's trace follows every transition that did not bring its own.
    assert {h["trace_id"] for h in back["history"]} == {tr}
    assert back["history"][2]["payload"]["actor"] == w.email("owner")


def test_reject_is_final(world: World) -> None:
    w = world
    p = _draft(w)
    proposals.submit(w.engine, p["id"], actor=w.email("editor"))
    r = proposals.review(w.engine, p["id"], actor=w.email("owner"), approve=False, reason="no")
    assert r["status"] == "rejected" and r["reviews"][0]["decision"] == "reject"
    for action in ("approve", "promote", "submit", "rollback"):
        with pytest.raises(NFError) as e:
            proposals.transition(w.engine, p["id"], action, actor=w.email("owner2"))
        assert _code(e) == "NF-GOV-001"


@pytest.mark.parametrize(
    ("status_path", "action"),
    [
        ([], "approve"),
        ([], "promote"),
        (["submit"], "promote"),
        (["submit"], "submit"),
        (["submit", "approve"], "rollback"),
        (["submit", "approve"], "reject"),
    ],
)
def test_transitions_out_of_order_are_refused(world: World, status_path, action) -> None:
    w = world
    p = _draft(w)
    actors = {"submit": "editor", "approve": "owner"}
    for step in status_path:
        proposals.transition(w.engine, p["id"], step, actor=w.email(actors[step]))
    with pytest.raises(NFError) as e:
        proposals.transition(w.engine, p["id"], action, actor=w.email("owner2"))
    assert _code(e) == "NF-GOV-001"
    assert (
        proposals.get_proposal(w.engine, p["id"])["status"]
        == ({0: "draft", 1: "in_review", 2: "approved"}[len(status_path)])
    )


def test_roles(world: World) -> None:
    w = world
    with pytest.raises(NFError) as e:
        _draft(w, actor=w.email("viewer"))
    assert _code(e) == "NF-AUTH-004" and "viewer" in e.value.detail
    with pytest.raises(NFError) as e:
        _draft(w, actor=w.email("outsider"))
    assert _code(e) == "NF-AUTH-004"

    p = _draft(w, actor=w.email("owner"))
    with pytest.raises(NFError) as e:
        proposals.submit(w.engine, p["id"], actor=w.email("viewer"))
    assert _code(e) == "NF-AUTH-004"
    proposals.submit(w.engine, p["id"], actor=w.email("editor"))
    with pytest.raises(NFError) as e:  # editors propose, owners decide
        proposals.review(w.engine, p["id"], actor=w.email("editor"), approve=True)
    assert _code(e) == "NF-AUTH-004"
    with pytest.raises(NFError) as e:  # four eyes: not the author
        proposals.review(w.engine, p["id"], actor=w.email("owner"), approve=True)
    assert _code(e) == "NF-AUTH-004" and "cannot review" in e.value.detail
    with pytest.raises(NFError) as e:  # automation never approves
        proposals.review(w.engine, p["id"], actor=SYSTEM, approve=True)
    assert _code(e) == "NF-AUTH-004"
    # An operator acts as an owner anywhere.
    assert (
        proposals.review(w.engine, p["id"], actor=w.email("operator"), approve=True)["status"]
        == "approved"
    )
    with pytest.raises(NFError) as e:
        proposals.promote(w.engine, p["id"], actor=w.email("editor"))
    assert _code(e) == "NF-AUTH-004"
    # Nothing of the refused attempts reached the history.
    assert [h["payload"]["action"] for h in _history(w, p["id"])] == ["create", "submit", "approve"]


def test_automation_may_draft_and_submit(world: World) -> None:
    w = world
    p = _draft(w, actor=SYSTEM)
    assert p["created_by"] == SYSTEM
    assert proposals.submit(w.engine, p["id"], actor=SYSTEM)["status"] == "in_review"


def test_idempotent_create(world: World) -> None:
    w = world
    a = _draft(w, idempotency_key="k-1")
    b = _draft(w, idempotency_key="k-1")
    assert a["id"] == b["id"]
    with pytest.raises(NFError) as e:
        _draft(w, idempotency_key="k-1", to_ref="9.9.9")
    assert _code(e) == "NF-INPUT-008"
    assert len(proposals.list_proposals(w.engine, w.tenant, w.project)) == 1


def test_bad_input(world: World) -> None:
    w = world
    for kw in ({"kind": "nope"}, {"target": "storyboard"}, {"to_ref": ""}):
        with pytest.raises(NFError) as e:
            _draft(w, **kw)
        assert _code(e) == "NF-INPUT-001"
    w.set_active("SKILL_13", "1.1.0")
    with pytest.raises(NFError) as e:  # already live
        _draft(w)
    assert _code(e) == "NF-INPUT-001"
    with pytest.raises(NFError) as e:
        _draft(w, kind="prompt_template", target="SKILL_20/image", to_ref="v2")
    assert _code(e) == "NF-INPUT-010"


def test_stale_proposal_is_refused_at_promotion(world: World) -> None:
    w = world
    w.set_active("SKILL_13", "1.0.0")
    w.candidate_runs("SKILL_13", "1.2.0", chapters=10)
    p = _draft(w, to_ref="1.2.0")
    proposals.submit(w.engine, p["id"], actor=w.email("editor"))
    proposals.review(w.engine, p["id"], actor=w.email("owner"), approve=True)
    with w.engine.begin() as conn:  # someone else moved the live version meanwhile
        conn.execute(
            text(
                "UPDATE skill_versions SET version = '1.0.5' WHERE tenant_id = :t "
                "AND status = 'active'"
            ),
            {"t": w.tenant},
        )
    with pytest.raises(NFError) as e:
        proposals.promote(w.engine, p["id"], actor=w.email("owner"), policy=NO_EXPERIMENT)
    assert _code(e) == "NF-GOV-001" and "stale" in e.value.detail
    assert proposals.get_proposal(w.engine, p["id"])["status"] == "approved"


def test_provider_promotion_switches_project_config(world: World) -> None:
    w = world
    # Provider candidate runs: jobs of SKILL_20's executor that used provider "http-a".
    for _ in range(2):
        nid, _key = w.novel()
        rid = w.run(nid)
        for i in range(5):
            w.job(rid, nid, i, "SKILL_20", provider="http-a")
        w.gate(rid, nid, "SKILL_16", [(i, True) for i in range(5)])
        w.gate(rid, nid, "SKILL_18", [(i, True) for i in range(5)])
    p = _draft(w, kind="provider", target="image", to_ref="http-a")
    assert p["from_ref"] is None
    proposals.submit(w.engine, p["id"], actor=w.email("editor"))
    proposals.review(w.engine, p["id"], actor=w.email("owner"), approve=True)
    proposals.promote(w.engine, p["id"], actor=w.email("owner"), policy=NO_EXPERIMENT)
    p_t = T["projects"]
    with w.engine.connect() as conn:
        config = conn.execute(select(p_t.c.config).where(p_t.c.tenant_id == w.tenant)).scalar()
    assert config["providers"] == {"image": "http-a"}
    proposals.rollback(w.engine, p["id"], actor=w.email("owner"))
    with w.engine.connect() as conn:
        config = conn.execute(select(p_t.c.config).where(p_t.c.tenant_id == w.tenant)).scalar()
    assert config["providers"] == {}
