"""Index audit: the key queries under EXPLAIN on a realistically sized dataset.

The audit copies the hot tables' definitions - with every index they have *now* in `public` -
into a scratch schema (`CREATE TABLE ... (LIKE public.x INCLUDING ALL)`), fills them with a
synthetic dataset by `INSERT ... SELECT generate_series` (100k jobs by default: hundreds of
projects, a small pending queue, a few percent failures, a year of history), ANALYZEs them and
runs `EXPLAIN (FORMAT JSON)` on each key query with the scratch schema first on the search_path.
Everything happens in one transaction that is rolled back, so the live tables are never touched
and the scratch schema never outlives the audit. A dropped or missing index in `public` is missing
from the copy too, and shows up as a sequential scan.

A query fails when its plan has a Seq Scan on a table of at least `min_rows` rows: below that
the planner rightly prefers a scan and an index is not what would serve. With `seed_jobs=0` the
audit explains the queries against the live tables and their real statistics instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from nf_services.governance.observer import FAILURES_SQL, USAGE_SQL
from shared.errors import REGISTRY

SCRATCH = "nf_index_audit"
AUDIT_TABLES = (
    "jobs",
    "render_runs",
    "execution_requests",
    "events",
    "usage_ledger",
    "observer_error_daily",
    "observer_cost_daily",
)
TENANTS, PROJECTS = 50, 8  # 400 projects
HISTORY_DAYS = 360


@dataclass(frozen=True)
class KeyQuery:
    name: str
    sql: str
    why: str


KEY_QUERIES: tuple[KeyQuery, ...] = (
    KeyQuery(
        "jobs_by_project",
        "SELECT id, status, skill_id, created_at FROM jobs "
        "WHERE tenant_id = :t AND project_id = :p ORDER BY created_at DESC LIMIT 50",
        "job list of a project",
    ),
    KeyQuery(
        "runs_by_project",
        "SELECT id, status, stage FROM render_runs "
        "WHERE tenant_id = :t AND project_id = :p ORDER BY created_at DESC LIMIT 50",
        "run list of a project",
    ),
    KeyQuery(
        "requests_by_project",
        "SELECT id, status, stage FROM execution_requests "
        "WHERE tenant_id = :t AND project_id = :p ORDER BY created_at DESC LIMIT 50",
        "request list of a project",
    ),
    KeyQuery(
        "jobs_by_trace",
        "SELECT id, status FROM jobs WHERE trace_id = :trace",
        "everything a trace touched",
    ),
    KeyQuery(
        "events_by_trace",
        "SELECT id, topic FROM events WHERE trace_id = :trace ORDER BY id",
        "a trace's event history",
    ),
    KeyQuery(
        "runs_by_trace", "SELECT id FROM render_runs WHERE trace_id = :trace", "a trace's runs"
    ),
    KeyQuery(
        "requests_by_trace",
        "SELECT id FROM execution_requests WHERE trace_id = :trace",
        "a trace's requests",
    ),
    KeyQuery(
        "claim_jobs",
        "SELECT id FROM jobs WHERE status = 'pending' ORDER BY created_at "
        "LIMIT 20 FOR UPDATE SKIP LOCKED",
        "job queue claim",
    ),
    KeyQuery(
        "claim_requests",
        "SELECT id FROM execution_requests WHERE status = 'pending' "
        "ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED",
        "intake queue claim",
    ),
    KeyQuery(
        "claim_outbox",
        "SELECT id FROM events WHERE published_at IS NULL ORDER BY id "
        "LIMIT 100 FOR UPDATE SKIP LOCKED",
        "outbox relay claim",
    ),
    KeyQuery("observer_read_failures", FAILURES_SQL, "observer rollup: failed jobs of a window"),
    KeyQuery("observer_read_usage", USAGE_SQL, "observer rollup: spend of a window"),
    KeyQuery(
        "observer_errors_by_project",
        "SELECT day, error_code, failures "
        "FROM observer_error_daily WHERE tenant_id = :t AND project_id = :p "
        "AND day >= :d0 ORDER BY day",
        "error dashboard of a project",
    ),
    KeyQuery(
        "observer_errors_by_code",
        "SELECT tenant_id, project_id, day, failures "
        "FROM observer_error_daily WHERE error_code = :code AND day >= :d0",
        "where one error code occurs",
    ),
    KeyQuery(
        "observer_costs_by_project",
        "SELECT day, skill_id, provider, cost_usd "
        "FROM observer_cost_daily WHERE tenant_id = :t AND project_id = :p "
        "AND day >= :d0 ORDER BY day",
        "cost dashboard of a project",
    ),
)


@dataclass
class QueryAudit:
    name: str
    why: str
    passed: bool
    seq_scans: list[str]  # big tables scanned sequentially
    indexes: list[str]
    nodes: list[str]
    total_cost: float


@dataclass
class AuditReport:
    passed: bool
    queries: list[QueryAudit]
    row_counts: dict[str, int]
    min_rows: int
    seeded: bool
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- synthetic dataset ----------------------------------------------------------------------
def _seed_sql(n: int) -> list[str]:
    """Statements that fill the scratch tables; `g` drives every column deterministically."""
    codes = sorted(REGISTRY)
    code_array = "ARRAY[" + ", ".join(f"'{c}'" for c in codes) + "]"
    tenant = f"'t' || lpad((g % {TENANTS})::text, 3, '0')"
    project = f"'p' || ((g / {TENANTS}) % {PROJECTS})"
    # A year of history whatever n is: the rollup windows (a day or two) stay a small share.
    step = max(HISTORY_DAYS * 86_400 // n, 1)
    runs = requests = max(n // 10, 1)
    half = max(n // 2, 1)  # events and spend of half the jobs: enough rows, half the time
    observer = max(n // 5, 1)
    return [
        # jobs: 2% pending, 1% claimed, 5% failed; 10 jobs per run and trace.
        f"""INSERT INTO jobs (id, tenant_id, project_id, trace_id, idempotency_key, run_id,
              novel_id, chapter_index, skill_id, skill_version, input_hash, status, stage,
              attempt, provider, error_code, started_at, finished_at, duration_ms,
              created_at, updated_at)
            SELECT md5('job' || g)::uuid, {tenant}, {project}, md5('trace' || (g / 10)),
              'job-' || g, md5('run' || (g / 10))::uuid, md5('novel' || (g / 400))::uuid,
              g % 40, 'SKILL_' || lpad((1 + g % 22)::text, 2, '0'), '1.0.0', md5('in' || g),
              (CASE WHEN g % 100 < 2 THEN 'pending' WHEN g % 100 = 2 THEN 'claimed'
                    WHEN g % 100 < 8 THEN 'failed' ELSE 'succeeded' END)::job_status,
              'render', 1, 'offline',
              CASE WHEN g % 100 BETWEEN 3 AND 7 THEN
                ({code_array})[1 + g % {len(codes)}] END,
              ts, CASE WHEN g % 100 >= 3 THEN ts + interval '2 seconds' END, 2000, ts, ts
            FROM generate_series(1, {n}) AS g,
                 LATERAL (SELECT now() - g * interval '{step} seconds' AS ts) AS x""",
        f"""INSERT INTO render_runs (id, tenant_id, project_id, trace_id, idempotency_key,
              dagster_run_id, status, stage, created_at, updated_at)
            SELECT md5('run' || g)::uuid, {tenant}, {project}, md5('trace' || g), 'run-' || g,
              'dagster-' || g,
              (CASE WHEN g % 100 < 2 THEN 'queued' ELSE 'succeeded' END)::run_status,
              (CASE WHEN g % 100 < 2 THEN 'queued' ELSE 'done' END)::nf_stage,
              now() - g * interval '{step * 10} seconds', now() - g * interval '{step * 10} seconds'
            FROM generate_series(1, {runs}) AS g""",
        f"""INSERT INTO execution_requests (id, tenant_id, project_id, trace_id, idempotency_key,
              status, stage, created_at, updated_at)
            SELECT md5('req' || g)::uuid, {tenant}, {project}, md5('trace' || g), 'req-' || g,
              (CASE WHEN g % 100 < 2 THEN 'pending' ELSE 'succeeded' END)::request_status,
              (CASE WHEN g % 100 < 2 THEN 'submitted' ELSE 'done' END)::nf_stage,
              now() - g * interval '{step * 10} seconds', now() - g * interval '{step * 10} seconds'
            FROM generate_series(1, {requests}) AS g""",
        # events: one per job (of the first half), 1% not yet relayed.
        f"""INSERT INTO events (tenant_id, project_id, trace_id, topic, run_id, job_id,
              payload, published_at, created_at, updated_at)
            SELECT {tenant}, {project}, md5('trace' || (g / 10)), 'job.succeeded',
              md5('run' || (g / 10))::uuid, md5('job' || g)::uuid, '{{}}'::jsonb,
              CASE WHEN g % 100 <> 0 THEN now() END,
              now() - g * interval '{step} seconds', now() - g * interval '{step} seconds'
            FROM generate_series(1, {half}) AS g""",
        f"""INSERT INTO usage_ledger (id, tenant_id, project_id, trace_id, idempotency_key,
              run_id, job_id, skill_id, provider, model, units, unit, cost_usd, created_at,
              updated_at)
            SELECT md5('use' || g)::uuid, {tenant}, {project}, md5('trace' || (g / 10)),
              'use-' || g, md5('run' || (g / 10))::uuid, md5('job' || g)::uuid,
              'SKILL_' || lpad((1 + g % 22)::text, 2, '0'), 'offline', 'm', 100, 'tokens',
              0.0001, now() - g * interval '{step} seconds', now() - g * interval '{step} seconds'
            FROM generate_series(1, {half}) AS g""",
        # observer rows: one per project and day for 50 days (unique keys by construction).
        f"""INSERT INTO observer_error_daily (id, tenant_id, project_id, trace_id, day,
              error_code, skill_id, provider, failures)
            SELECT md5('oe' || g)::uuid, {tenant}, {project}, md5('trace' || g),
              current_date - (g / {TENANTS * PROJECTS}), ({code_array})[1 + g % {len(codes)}],
              'SKILL_' || lpad((1 + g % 22)::text, 2, '0'), 'offline', 1 + g % 7
            FROM generate_series(0, {observer - 1}) AS g""",
        f"""INSERT INTO observer_cost_daily (id, tenant_id, project_id, trace_id, day,
              skill_id, provider, calls, units, cost_usd, chapters)
            SELECT md5('oc' || g)::uuid, {tenant}, {project}, md5('trace' || g),
              current_date - (g / {TENANTS * PROJECTS}),
              'SKILL_' || lpad((1 + g % 22)::text, 2, '0'), 'offline', 10, 1000, 0.01, 3
            FROM generate_series(0, {observer - 1}) AS g""",
    ]


def seed_scratch(conn: Connection, jobs: int) -> None:
    """Copy the hot tables (with their current indexes) into the scratch schema and fill them.
    Call inside a transaction that will be rolled back."""
    conn.execute(text(f"CREATE SCHEMA {SCRATCH}"))
    for table in AUDIT_TABLES:
        # Not FKs (LIKE never copies them): the synthetic rows need no parents.
        conn.execute(text(f"CREATE TABLE {SCRATCH}.{table} (LIKE public.{table} INCLUDING ALL)"))
    conn.execute(text(f"SET LOCAL search_path = {SCRATCH}, public"))
    for stmt in _seed_sql(jobs):
        conn.execute(text(stmt))
    for table in AUDIT_TABLES:
        conn.execute(text(f"ANALYZE {SCRATCH}.{table}"))


# -- plans ----------------------------------------------------------------------------------
def _walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _walk(child)


def explain(conn: Connection, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    doc = conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params).scalar()
    return doc[0]["Plan"]


def _row_counts(conn: Connection, schema: str) -> dict[str, int]:
    rows = conn.execute(
        text(
            "SELECT c.relname, c.reltuples::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relkind = 'r' AND c.relname = ANY(:t)"
        ),
        {"s": schema, "t": list(AUDIT_TABLES)},
    ).all()
    return {r[0]: max(int(r[1]), 0) for r in rows}


def _params(conn: Connection) -> dict[str, Any]:
    """Typical parameter values: a median-sized project, a real trace, a real error code."""
    proj = conn.execute(
        text(
            "SELECT tenant_id, project_id FROM (SELECT tenant_id, project_id, count(*) AS n, "
            "row_number() OVER (ORDER BY count(*), tenant_id, project_id) AS r, "
            "count(*) OVER () AS total FROM jobs GROUP BY 1, 2) AS x "
            "WHERE r = (total + 1) / 2"
        )
    ).first()
    trace = conn.execute(text("SELECT trace_id FROM jobs ORDER BY id LIMIT 1")).scalar()
    code = conn.execute(
        text("SELECT error_code FROM observer_error_daily GROUP BY 1 ORDER BY count(*) LIMIT 1")
    ).scalar()
    today = datetime.now(UTC).date()
    return {
        "t": proj[0] if proj else "default",
        "p": proj[1] if proj else "default",
        "trace": trace or "0" * 32,
        "code": code or "NF-INTERNAL-000",
        "d0": today - timedelta(days=30),
        "start": datetime.combine(today - timedelta(days=1), datetime.min.time(), UTC),
        "end": datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC),
    }


def audit_queries(conn: Connection, *, schema: str, min_rows: int, seeded: bool) -> AuditReport:
    counts = _row_counts(conn, schema)
    params = _params(conn)
    results: list[QueryAudit] = []
    for q in KEY_QUERIES:
        plan = explain(conn, q.sql, params)
        nodes = list(_walk(plan))
        seq = sorted(
            {
                n["Relation Name"]
                for n in nodes
                if n["Node Type"] == "Seq Scan"
                and counts.get(n.get("Relation Name", ""), 0) >= min_rows
            }
        )
        results.append(
            QueryAudit(
                name=q.name,
                why=q.why,
                passed=not seq,
                seq_scans=seq,
                indexes=sorted({n["Index Name"] for n in nodes if "Index Name" in n}),
                nodes=[
                    n["Node Type"] + (f" on {n['Relation Name']}" if "Relation Name" in n else "")
                    for n in nodes
                ],
                total_cost=float(plan["Total Cost"]),
            )
        )
    failures = [f"{r.name}: Seq Scan on {', '.join(r.seq_scans)}" for r in results if not r.passed]
    return AuditReport(not failures, results, counts, min_rows, seeded, failures)


def audit_connection(
    conn: Connection, *, seed_jobs: int = 100_000, min_rows: int = 5_000
) -> AuditReport:
    """The audit inside the caller's transaction (which the caller rolls back)."""
    if seed_jobs > 0:
        seed_scratch(conn, seed_jobs)
        return audit_queries(conn, schema=SCRATCH, min_rows=min_rows, seeded=True)
    return audit_queries(conn, schema="public", min_rows=min_rows, seeded=False)


def audit_indexes(
    engine: Engine, *, seed_jobs: int = 100_000, min_rows: int = 5_000
) -> AuditReport:
    """Run the audit in a transaction that is always rolled back."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            return audit_connection(conn, seed_jobs=seed_jobs, min_rows=min_rows)
        finally:
            trans.rollback()
