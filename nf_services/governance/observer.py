"""Observer rollups: failures and costs per tenant, project, day, error code, skill and provider.

Raw rows are read for a window of UTC days (failed jobs by finish time, through the partial index
`ix_jobs_failed_finished`; usage_ledger rows by creation time) and aggregated with pandas into
`observer_error_daily` and `observer_cost_daily`. A rollup replaces the rows of the days it
covers, so re-running it (a retried schedule tick, a late job) converges instead of adding up.

Error-code coverage is the share of failures that carry a registered code other than the
catch-all NF-INTERNAL-000; the asset check fails below 95% (the target is 100%). Cost per chapter
and per novel come from the ledger joined to its jobs.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, delete, insert, select, text

from shared import telemetry
from shared.errors import REGISTRY, UNCLASSIFIED
from shared.models import Base

T = Base.metadata.tables

COVERAGE_TARGET = 0.95
ERROR_KEYS = ["tenant_id", "project_id", "day", "error_code", "skill_id", "provider"]
COST_KEYS = ["tenant_id", "project_id", "day", "skill_id", "provider"]
# The rollup's reads (the index audit explains these very statements).
FAILURES_SQL = (
    "SELECT tenant_id, project_id, (finished_at AT TIME ZONE 'UTC')::date AS day, "
    "error_code, skill_id, provider FROM jobs "
    "WHERE status = 'failed' AND finished_at >= :start AND finished_at < :end"
)
USAGE_SQL = (
    "SELECT l.tenant_id, l.project_id, (l.created_at AT TIME ZONE 'UTC')::date AS day, "
    "coalesce(l.skill_id, j.skill_id) AS skill_id, l.provider, l.units, l.cost_usd, "
    "j.novel_id, j.chapter_index FROM usage_ledger l LEFT JOIN jobs j ON j.id = l.job_id "
    "WHERE l.created_at >= :start AND l.created_at < :end"
)


@dataclass
class Coverage:
    failures: int
    covered: int

    @property
    def ratio(self) -> float:
        # No failures: nothing is uncovered.
        return self.covered / self.failures if self.failures else 1.0


@dataclass
class RollupReport:
    day_from: date
    day_to: date
    error_rows: int
    cost_rows: int
    failures: int
    covered: int
    coverage: float
    uncovered_by_skill: dict[str, int]
    cost_usd: Decimal
    chapters: int
    cost_per_chapter: Decimal | None
    novels: list[dict[str, Any]] = field(default_factory=list)
    projects: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _bounds(day_from: date, day_to: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(day_from, time.min, UTC),
        datetime.combine(day_to + timedelta(days=1), time.min, UTC),
    )


def _is_covered(code: str) -> bool:
    return code in REGISTRY and code != UNCLASSIFIED


def _none(v: Any) -> Any:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


def read_failures(
    engine: Engine, day_from: date, day_to: date, tenant_id: str | None = None
) -> pd.DataFrame:
    start, end = _bounds(day_from, day_to)
    sql = FAILURES_SQL
    params: dict[str, Any] = {"start": start, "end": end}
    if tenant_id:
        sql += " AND tenant_id = :tenant"
        params["tenant"] = tenant_id
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).mappings().all()
    return pd.DataFrame(rows, columns=ERROR_KEYS)


def read_usage(
    engine: Engine, day_from: date, day_to: date, tenant_id: str | None = None
) -> pd.DataFrame:
    start, end = _bounds(day_from, day_to)
    sql = USAGE_SQL
    params: dict[str, Any] = {"start": start, "end": end}
    if tenant_id:
        sql += " AND l.tenant_id = :tenant"
        params["tenant"] = tenant_id
    cols = [*COST_KEYS, "units", "cost_usd", "novel_id", "chapter_index"]
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).mappings().all()
    return pd.DataFrame(rows, columns=cols)


def aggregate_errors(failures: pd.DataFrame) -> pd.DataFrame:
    if failures.empty:
        return pd.DataFrame(columns=[*ERROR_KEYS, "failures"])
    return (
        failures.groupby(ERROR_KEYS, dropna=False, sort=True)
        .size()
        .rename("failures")
        .reset_index()
    )


def _chapter_key(usage: pd.DataFrame) -> pd.Series:
    """A chapter's identity, or NA for spend that is not attributable to one chapter."""
    ok = usage["novel_id"].notna() & usage["chapter_index"].notna()
    chapter = usage["chapter_index"].astype("Int64").astype(str)
    key = usage["novel_id"].astype(str) + ":" + chapter
    return key.where(ok)


def aggregate_costs(usage: pd.DataFrame) -> pd.DataFrame:
    cols = [*COST_KEYS, "calls", "units", "cost_usd", "chapters"]
    if usage.empty:
        return pd.DataFrame(columns=cols)
    u = usage.assign(
        chapter=_chapter_key(usage), cost_usd=usage["cost_usd"].map(lambda x: Decimal(str(x)))
    )
    g = u.groupby(COST_KEYS, dropna=False, sort=True)
    out = pd.DataFrame(
        {
            "calls": g.size(),
            "units": g["units"].sum(),
            # Decimal sums stay exact (cost_usd is NUMERIC(12, 6)).
            "cost_usd": g["cost_usd"].agg(lambda s: sum(s, Decimal(0))),
            "chapters": g["chapter"].nunique(),
        }
    ).reset_index()
    return out[cols]


def cost_per_novel(usage: pd.DataFrame) -> list[dict[str, Any]]:
    """Spend per novel and per chapter of it, over the window."""
    u = usage[usage["novel_id"].notna()]
    if u.empty:
        return []
    u = u.assign(chapter=_chapter_key(u), cost_usd=u["cost_usd"].map(lambda x: Decimal(str(x))))
    out = []
    for (tenant, project, novel), part in u.groupby(
        ["tenant_id", "project_id", "novel_id"], sort=True
    ):
        cost = sum(part["cost_usd"], Decimal(0))
        chapters = int(part["chapter"].nunique())
        out.append(
            {
                "tenant_id": tenant,
                "project_id": project,
                "novel_id": str(novel),
                "cost_usd": cost,
                "chapters": chapters,
                "cost_per_chapter": (cost / chapters).quantize(Decimal("0.000001"))
                if chapters
                else None,
            }
        )
    return out


def rollup(
    engine: Engine,
    day_from: date | None = None,
    day_to: date | None = None,
    *,
    tenant_id: str | None = None,
    trace_id: str | None = None,
) -> RollupReport:
    """Recompute the observer rows for [day_from, day_to] (default: yesterday and today, UTC)."""
    today = datetime.now(UTC).date()
    day_to = day_to or today
    day_from = day_from or min(day_to, today - timedelta(days=1))
    ctx = telemetry.current()
    trace = trace_id or (ctx.trace_id if ctx else telemetry.new_trace_id())
    failures = read_failures(engine, day_from, day_to, tenant_id)
    usage = read_usage(engine, day_from, day_to, tenant_id)
    errors = aggregate_errors(failures)
    costs = aggregate_costs(usage)

    err_t, cost_t = T["observer_error_daily"], T["observer_cost_daily"]
    with engine.begin() as conn:
        for table in (err_t, cost_t):
            cond = [table.c.day >= day_from, table.c.day <= day_to]
            if tenant_id:
                cond.append(table.c.tenant_id == tenant_id)
            conn.execute(delete(table).where(and_(*cond)))
        if len(errors):
            conn.execute(
                insert(err_t),
                [
                    {
                        "id": uuid.uuid4(),
                        "trace_id": trace,
                        "tenant_id": r.tenant_id,
                        "project_id": r.project_id,
                        "day": r.day,
                        "error_code": r.error_code,
                        "skill_id": _none(r.skill_id),
                        "provider": _none(r.provider),
                        "failures": int(r.failures),
                    }
                    for r in errors.itertuples(index=False)
                ],
            )
        if len(costs):
            conn.execute(
                insert(cost_t),
                [
                    {
                        "id": uuid.uuid4(),
                        "trace_id": trace,
                        "tenant_id": r.tenant_id,
                        "project_id": r.project_id,
                        "day": r.day,
                        "skill_id": _none(r.skill_id),
                        "provider": _none(r.provider),
                        "calls": int(r.calls),
                        "units": float(r.units),
                        "cost_usd": r.cost_usd,
                        "chapters": int(r.chapters),
                    }
                    for r in costs.itertuples(index=False)
                ],
            )

    covered_mask = failures["error_code"].map(_is_covered) if len(failures) else pd.Series([])
    cov = Coverage(int(len(failures)), int(covered_mask.sum()) if len(failures) else 0)
    uncovered = failures[~covered_mask] if len(failures) else failures
    total_cost = sum((Decimal(str(x)) for x in usage["cost_usd"]), Decimal(0))
    chapters = int(_chapter_key(usage).nunique()) if len(usage) else 0
    projects = []
    if len(failures) or len(usage):
        keys = sorted(
            set(map(tuple, failures[["tenant_id", "project_id"]].values.tolist()))
            | set(map(tuple, usage[["tenant_id", "project_id"]].values.tolist()))
        )
        for t, p in keys:
            f = failures[(failures["tenant_id"] == t) & (failures["project_id"] == p)]
            c = Coverage(len(f), int(f["error_code"].map(_is_covered).sum()) if len(f) else 0)
            projects.append(
                {
                    "tenant_id": t,
                    "project_id": p,
                    "failures": c.failures,
                    "coverage": round(c.ratio, 6),
                }
            )
    return RollupReport(
        day_from=day_from,
        day_to=day_to,
        error_rows=len(errors),
        cost_rows=len(costs),
        failures=cov.failures,
        covered=cov.covered,
        coverage=round(cov.ratio, 6),
        uncovered_by_skill={
            str(k): int(v) for k, v in uncovered.groupby("skill_id", dropna=False).size().items()
        }
        if len(uncovered)
        else {},
        cost_usd=total_cost,
        chapters=chapters,
        cost_per_chapter=(total_cost / chapters).quantize(Decimal("0.000001"))
        if chapters
        else None,
        novels=cost_per_novel(usage),
        projects=projects,
    )


# -- queries on the rollup tables -----------------------------------------------------------
def _query(
    table_name: str,
    engine: Engine,
    tenant_id: str,
    project_id: str | None,
    filters: dict[str, Any],
    day_from: date | None,
    day_to: date | None,
) -> pd.DataFrame:
    t = T[table_name]
    cond = [t.c.tenant_id == tenant_id]
    if project_id:
        cond.append(t.c.project_id == project_id)
    for col, value in filters.items():
        if value is not None:
            cond.append(t.c[col] == value)
    if day_from:
        cond.append(t.c.day >= day_from)
    if day_to:
        cond.append(t.c.day <= day_to)
    cols = [c for c in t.c if c.name not in ("id", "trace_id", "created_at", "updated_at")]
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).where(*cond).order_by(t.c.day, *cols[:2])).all()
    return pd.DataFrame(rows, columns=[c.name for c in cols])


def query_errors(
    engine: Engine,
    tenant_id: str,
    project_id: str | None = None,
    *,
    error_code: str | None = None,
    skill_id: str | None = None,
    provider: str | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
) -> pd.DataFrame:
    return _query(
        "observer_error_daily",
        engine,
        tenant_id,
        project_id,
        {"error_code": error_code, "skill_id": skill_id, "provider": provider},
        day_from,
        day_to,
    )


def query_costs(
    engine: Engine,
    tenant_id: str,
    project_id: str | None = None,
    *,
    skill_id: str | None = None,
    provider: str | None = None,
    day_from: date | None = None,
    day_to: date | None = None,
) -> pd.DataFrame:
    return _query(
        "observer_cost_daily",
        engine,
        tenant_id,
        project_id,
        {"skill_id": skill_id, "provider": provider},
        day_from,
        day_to,
    )


def error_code_coverage(
    engine: Engine, day_from: date, day_to: date, tenant_id: str | None = None
) -> Coverage:
    """Coverage from the rollup table (what the check reports)."""
    t = T["observer_error_daily"]
    cond = [t.c.day >= day_from, t.c.day <= day_to]
    if tenant_id:
        cond.append(t.c.tenant_id == tenant_id)
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.error_code, t.c.failures).where(*cond)).all()
    total = sum(r.failures for r in rows)
    return Coverage(total, sum(r.failures for r in rows if _is_covered(r.error_code)))
