"""The observer rollup against aggregates computed by hand from the seeded rows."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from nf_services.governance import observer
from shared.models import Base

from .conftest import World, trace

T = Base.metadata.tables
D1, D2, D3 = date(2030, 3, 9), date(2030, 3, 10), date(2030, 3, 11)


def at(day: date, hh: int = 12, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC)


@pytest.fixture
def seeded(world: World) -> World:
    w = world
    with w.engine.begin() as conn:
        conn.execute(insert(T["projects"]).values(tenant_id=w.tenant, id="side", name="side"))
    fail = [  # (project, when, code, skill, provider, count)
        ("main", at(D1, 1), "NF-PROVIDER-002", "SKILL_10", "offline", 3),
        ("main", at(D1, 2), "NF-PROVIDER-001", "SKILL_10", "offline", 1),
        ("main", at(D1, 3), "NF-SKILL-002", "SKILL_13", None, 2),
        ("main", at(D1, 4), "NF-INTERNAL-000", "SKILL_13", None, 1),
        ("main", at(D1, 23, 59, 30), "NF-MEDIA-001", "SKILL_18", "http", 1),  # still day 1
        ("main", at(D2, 0, 0, 10), "NF-PROVIDER-002", "SKILL_10", "offline", 2),
        ("side", at(D2, 5), "NF-INTERNAL-000", "SKILL_21", None, 1),
        ("main", at(D3, 5), "NF-PROVIDER-002", "SKILL_10", "offline", 4),  # outside the window
    ]
    for project, when, code, skill, provider, count in fail:
        w.project = project
        for _ in range(count):
            w.job(
                None,
                None,
                None,
                skill,
                status="failed",
                error_code=code,
                provider=provider,
                finished_at=when,
            )
    w.project = "main"
    w.job(None, None, None, "SKILL_10", finished_at=at(D1))  # succeeded: not a failure

    a, _ = w.novel("novel-a")
    b, _ = w.novel("novel-b")
    run = w.run(a)
    w.job(run, a, 1, "SKILL_10", provider="offline", finished_at=at(D1, 6), cost=[0.010, 0.020])
    w.job(run, a, 2, "SKILL_10", provider="offline", finished_at=at(D1, 7), cost=[0.015])
    w.job(run, a, 1, "SKILL_20", provider="http", finished_at=at(D1, 8), cost=[0.100])
    w.job(run, a, 3, "SKILL_20", provider="http", finished_at=at(D2, 8), cost=[0.050])
    w.job(run, b, 1, "SKILL_10", provider="offline", finished_at=at(D2, 9), cost=[0.005])
    w.job(run, b, 2, "SKILL_10", provider="offline", finished_at=at(D3, 9), cost=[1.0])  # outside
    with w.engine.begin() as conn:  # spend not attributable to a job (or a skill)
        conn.execute(
            insert(T["usage_ledger"]).values(
                id=uuid.uuid4(),
                tenant_id=w.tenant,
                project_id="main",
                trace_id=trace(),
                provider="offline",
                units=2.5,
                unit="tokens",
                cost_usd=Decimal("0.001"),
                created_at=at(D2, 10),
            )
        )
        # A stale row of a covered day: a rollup replaces the day, so it must disappear.
        conn.execute(
            insert(T["observer_error_daily"]).values(
                id=uuid.uuid4(),
                tenant_id=w.tenant,
                project_id="main",
                trace_id=trace(),
                day=D1,
                error_code="NF-DB-001",
                skill_id="SKILL_01",
                provider=None,
                failures=99,
            )
        )
    w.ids = {"a": a, "b": b}  # type: ignore[attr-defined]
    return w


EXPECTED_ERRORS = {
    ("main", D1, "NF-INTERNAL-000", "SKILL_13", None): 1,
    ("main", D1, "NF-MEDIA-001", "SKILL_18", "http"): 1,
    ("main", D1, "NF-PROVIDER-001", "SKILL_10", "offline"): 1,
    ("main", D1, "NF-PROVIDER-002", "SKILL_10", "offline"): 3,
    ("main", D1, "NF-SKILL-002", "SKILL_13", None): 2,
    ("main", D2, "NF-PROVIDER-002", "SKILL_10", "offline"): 2,
    ("side", D2, "NF-INTERNAL-000", "SKILL_21", None): 1,
}
# (project, day, skill, provider) -> (calls, units, cost, distinct chapters)
EXPECTED_COSTS = {
    ("main", D1, "SKILL_10", "offline"): (3, 3.0, Decimal("0.045"), 2),
    ("main", D1, "SKILL_20", "http"): (1, 1.0, Decimal("0.100"), 1),
    ("main", D2, "SKILL_10", "offline"): (1, 1.0, Decimal("0.005"), 1),
    ("main", D2, "SKILL_20", "http"): (1, 1.0, Decimal("0.050"), 1),
    ("main", D2, None, "offline"): (1, 2.5, Decimal("0.001"), 0),
}


def _tables(w: World) -> tuple[dict, dict]:
    e, c = T["observer_error_daily"], T["observer_cost_daily"]
    with w.engine.connect() as conn:
        errors = {
            (r.project_id, r.day, r.error_code, r.skill_id, r.provider): r.failures
            for r in conn.execute(select(e).where(e.c.tenant_id == w.tenant))
        }
        costs = {
            (r.project_id, r.day, r.skill_id, r.provider): (
                r.calls,
                r.units,
                r.cost_usd,
                r.chapters,
            )
            for r in conn.execute(select(c).where(c.c.tenant_id == w.tenant))
        }
    return errors, costs


def test_rollup_matches_hand_computed_aggregates(seeded: World) -> None:
    w = seeded
    report = observer.rollup(w.engine, D1, D2, tenant_id=w.tenant)
    errors, costs = _tables(w)
    assert errors == EXPECTED_ERRORS
    assert costs == EXPECTED_COSTS
    assert (report.error_rows, report.cost_rows) == (7, 5)
    # 11 failures, 2 of them NF-INTERNAL-000.
    assert (report.failures, report.covered, report.coverage) == (11, 9, round(9 / 11, 6))
    assert report.uncovered_by_skill == {"SKILL_13": 1, "SKILL_21": 1}
    assert {(p["project_id"], p["failures"], p["coverage"]) for p in report.projects} == {
        ("main", 10, 0.9),
        ("side", 1, 0.0),
    }
    # Cost: 0.201 USD over 4 distinct chapters (a1, a2, a3, b1).
    assert report.cost_usd == Decimal("0.201") and report.chapters == 4
    assert report.cost_per_chapter == Decimal("0.050250")
    novels = {n["novel_id"]: n for n in report.novels}
    a, b = (str(w.ids[k]) for k in ("a", "b"))  # type: ignore[attr-defined]
    assert (novels[a]["cost_usd"], novels[a]["chapters"], novels[a]["cost_per_chapter"]) == (
        Decimal("0.195"),
        3,
        Decimal("0.065000"),
    )
    assert (novels[b]["cost_usd"], novels[b]["chapters"]) == (Decimal("0.005"), 1)


def test_rollup_is_idempotent_and_queryable(seeded: World) -> None:
    w = seeded
    observer.rollup(w.engine, D1, D2, tenant_id=w.tenant)
    observer.rollup(w.engine, D1, D2, tenant_id=w.tenant)
    errors, costs = _tables(w)
    assert errors == EXPECTED_ERRORS and costs == EXPECTED_COSTS

    q = observer.query_errors(w.engine, w.tenant, "main", error_code="NF-PROVIDER-002")
    assert list(zip(q["day"], q["failures"], strict=True)) == [(D1, 3), (D2, 2)]
    q = observer.query_errors(w.engine, w.tenant, provider="http")
    assert q["failures"].sum() == 1
    q = observer.query_errors(w.engine, w.tenant, skill_id="SKILL_13", day_from=D1, day_to=D1)
    assert sorted(q["error_code"]) == ["NF-INTERNAL-000", "NF-SKILL-002"]
    q = observer.query_costs(w.engine, w.tenant, "main", provider="http")
    assert sum(q["cost_usd"]) == Decimal("0.150")
    cov = observer.error_code_coverage(w.engine, D1, D2, w.tenant)
    assert (cov.failures, cov.covered) == (11, 9)
    assert observer.error_code_coverage(w.engine, D3, D3, w.tenant).ratio == 1.0  # nothing rolled


def test_coverage_without_unregistered_codes(world: World) -> None:
    w = world
    w.job(
        None,
        None,
        None,
        "SKILL_10",
        status="failed",
        error_code="NF-PROVIDER-003",
        finished_at=at(D1),
    )
    report = observer.rollup(w.engine, D1, D1, tenant_id=w.tenant)
    assert (report.failures, report.coverage) == (1, 1.0)
