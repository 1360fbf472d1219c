"""Backfill the core tables so P2 (0004) can make the standard fields NOT NULL.

For each core table, in batches (one short transaction each, `FOR UPDATE SKIP LOCKED` so live
writers are never blocked), rows missing a standard field are completed:

- tenant_id/project_id: inherited from the parent row (chapters from novels, jobs from
  render_runs, ...) when the parent has them, else the given default tenant/project;
- trace_id: the parent's trace, else a deterministic one (md5 of table and id);
- idempotency_key (write-path tables, rows that had no tenant): `legacy:<table>:<id>`;
- created_at/updated_at: now() / created_at; novels.partition_key: `<tenant>.<project>.<slug>`.

Parents are processed before children, so a child always inherits a settled tenancy. The run is
idempotent: a second run finds nothing to fix. It works from revision 0002 on (before P2 the
tenancy tables may not exist yet; 0003 registers the tenancies in use when it creates them).

CLI: `python -m migrations.backfill --report-dir DIR` writes backfill-report.json and .md.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, create_engine, inspect, pool, text

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SLUG_SQL = "^[a-z0-9][a-z0-9_-]{0,62}$"


@dataclass(frozen=True)
class Parent:
    table: str
    fk: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    parents: tuple[Parent, ...] = ()
    idempotent: bool = False


# Parents first: each table's parents are settled before it is processed.
TABLES: tuple[TableSpec, ...] = (
    TableSpec("novels", (), idempotent=True),
    TableSpec("execution_requests", (Parent("novels", "novel_id"),), idempotent=True),
    TableSpec(
        "render_runs",
        (Parent("execution_requests", "request_id"), Parent("novels", "novel_id")),
        idempotent=True,
    ),
    TableSpec(
        "jobs", (Parent("render_runs", "run_id"), Parent("novels", "novel_id")), idempotent=True
    ),
    TableSpec("chapters", (Parent("novels", "novel_id"),)),
    TableSpec(
        "artifacts", (Parent("jobs", "job_id"), Parent("novels", "novel_id")), idempotent=True
    ),
    TableSpec(
        "events",
        (
            Parent("jobs", "job_id"),
            Parent("render_runs", "run_id"),
            Parent("execution_requests", "request_id"),
        ),
    ),
)


class TableReport(BaseModel):
    table: str
    found: int = 0  # rows that needed at least one fix when the run started
    fixed: int = 0  # rows updated by this run
    left: int = 0  # rows still blocking P2 afterwards (see reasons)
    legacy_values: int = 0  # rows carrying pre-P0 values in legacy_values (dropped at P2)
    reasons: dict[str, int] = Field(default_factory=dict)


class BackfillReport(BaseModel):
    revision: str | None
    tenant: str
    project: str
    batch_size: int
    started_at: datetime
    finished_at: datetime | None = None
    tenancies_registered: dict[str, int] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    tables: list[TableReport] = Field(default_factory=list)

    @property
    def found(self) -> int:
        return sum(t.found for t in self.tables)

    @property
    def fixed(self) -> int:
        return sum(t.fixed for t in self.tables)

    @property
    def left(self) -> int:
        return sum(t.left for t in self.tables)

    def table(self, name: str) -> TableReport:
        return next(t for t in self.tables if t.table == name)

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        data["totals"] = {"found": self.found, "fixed": self.fixed, "left": self.left}
        return json.dumps(data, indent=2, ensure_ascii=False)

    def to_markdown(self) -> str:
        lines = [
            "# Backfill report",
            "",
            f"- revision: `{self.revision}`",
            f"- default tenancy: `{self.tenant}/{self.project}`, batch size {self.batch_size}",
            f"- started {self.started_at.isoformat()}, finished "
            f"{self.finished_at.isoformat() if self.finished_at else '-'}",
            f"- totals: found {self.found}, fixed {self.fixed}, left {self.left}",
            "",
            "| table | found | fixed | left | legacy values |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {t.table} | {t.found} | {t.fixed} | {t.left} | {t.legacy_values} |"
            for t in self.tables
        ]
        lines += ["", "## Reasons", ""]
        for t in self.tables:
            for reason, n in sorted(t.reasons.items()):
                lines.append(f"- {t.table}: {reason}: {n}")
        if self.tenancies_registered:
            lines += ["", "## Tenancies registered", ""]
            lines += [f"- {k}: {v}" for k, v in self.tenancies_registered.items()]
        if self.notes:
            lines += ["", "## Notes", ""]
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------
# SQL building


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _needs_fix(spec: TableSpec, cols: set[str], alias: str = "t") -> str:
    required = ["tenant_id", "project_id", "trace_id", "created_at", "updated_at"]
    if spec.name == "novels":
        required.append("partition_key")
    return " OR ".join(f"{alias}.{c} IS NULL" for c in required if c in cols)


def _first_parent(spec: TableSpec, column: str) -> str:
    """The column from the first parent that has a tenant (keeps tenant and project paired)."""
    if not spec.parents:
        return "NULL"
    whens = " ".join(
        f"WHEN p{i}.tenant_id IS NOT NULL THEN p{i}.{column}" for i, _ in enumerate(spec.parents)
    )
    return f"CASE {whens} END"


def _batch_sql(spec: TableSpec, cols: set[str]) -> str:
    joins = " ".join(
        f"LEFT JOIN {p.table} AS p{i} ON p{i}.id = t.{p.fk}" for i, p in enumerate(spec.parents)
    )
    source = (
        "CASE "
        + " ".join(
            f"WHEN p{i}.tenant_id IS NOT NULL THEN '{p.table}'" for i, p in enumerate(spec.parents)
        )
        + " END"
        if spec.parents
        else "NULL"
    )
    parent_trace = (
        "COALESCE(" + ", ".join(f"p{i}.trace_id" for i in range(len(spec.parents))) + ")"
        if spec.parents
        else "NULL"
    )
    p_tenant, p_project = _first_parent(spec, "tenant_id"), _first_parent(spec, "project_id")
    new_tenant = f"COALESCE(t.tenant_id, {p_tenant}, :tenant)"
    new_project = (
        f"COALESCE(t.project_id, CASE WHEN {p_tenant} = COALESCE(t.tenant_id, {p_tenant}) "
        f"THEN {p_project} END, :project)"
    )
    select = [
        "t.id AS pk",
        "(t.tenant_id IS NULL OR t.project_id IS NULL) AS untenanted",
        f"{source} AS source",
        f"{new_tenant} AS new_tenant",
        f"{new_project} AS new_project",
        f"{parent_trace} AS parent_trace",
    ]
    sets = [
        "tenant_id = b.new_tenant",
        "project_id = b.new_project",
        "trace_id = COALESCE(t.trace_id, b.parent_trace, "
        f"md5('legacy:{spec.name}:' || t.id::text))",
        "created_at = COALESCE(t.created_at, now())",
        "updated_at = COALESCE(t.updated_at, t.created_at, now())",
    ]
    returning = [
        "b.untenanted",
        "b.source",
        "b.old_trace IS NULL AS no_trace",
        "b.parent_trace IS NOT NULL AS trace_inherited",
        "b.old_created IS NULL AS no_created",
        "b.old_updated IS NULL AS no_updated",
    ]
    select += [
        "t.trace_id AS old_trace",
        "t.created_at AS old_created",
        "t.updated_at AS old_updated",
    ]
    if spec.idempotent and "idempotency_key" in cols:
        sets.append(
            "idempotency_key = CASE WHEN b.untenanted AND t.idempotency_key IS NULL "
            f"THEN 'legacy:{spec.name}:' || t.id::text ELSE t.idempotency_key END"
        )
        select.append("t.idempotency_key IS NULL AS no_key")
        returning.append("b.untenanted AND b.no_key AS key_set")
    if spec.name == "novels":
        # A valid slug is kept; anything else is sanitised and made unique with an id suffix.
        clean = "btrim(regexp_replace(lower(t.slug), '[^a-z0-9_-]+', '-', 'g'), '-_')"
        slug = (
            f"CASE WHEN t.slug ~ '{SLUG_SQL}' THEN t.slug "
            f"ELSE COALESCE(NULLIF({clean}, ''), 'novel') || '-' || left(md5(t.id::text), 6) END"
        )
        select.append("b0.key AS new_key")
        select.append("t.partition_key IS NULL AS no_pkey")
        joins += (
            f" CROSS JOIN LATERAL (SELECT {new_tenant} || '.' || {new_project} || '.' || {slug} "
            "AS key) AS b0"
        )
        sets.append(
            "partition_key = COALESCE(t.partition_key, CASE WHEN EXISTS (SELECT 1 FROM novels n "
            "WHERE n.partition_key = b.new_key) THEN b.new_key || '-' || left(md5(t.id::text), 6) "
            "ELSE b.new_key END)"
        )
        returning.append("b.no_pkey")
    return (
        f"WITH b AS (SELECT {', '.join(select)} FROM {spec.name} AS t {joins} "
        f"WHERE {_needs_fix(spec, cols)} ORDER BY t.id LIMIT :limit FOR UPDATE OF t SKIP LOCKED) "
        f"UPDATE {spec.name} AS t SET {', '.join(sets)} FROM b WHERE t.id = b.pk "
        f"RETURNING {', '.join(returning)}"
    )


def _count(conn: Connection, sql: str, **params: object) -> int:
    return int(conn.execute(text(sql), params).scalar() or 0)


def _reasons(rows: list, spec: TableSpec, tenant: str, project: str) -> Counter[str]:
    reasons: Counter[str] = Counter()
    for row in rows:
        m = row._mapping
        if m["untenanted"]:
            if m["source"]:
                reasons[f"tenant/project inherited from {m['source']}"] += 1
            else:
                reasons[f"tenant/project set to {tenant}/{project}"] += 1
        if m["no_trace"]:
            inherited = m["trace_inherited"]
            reasons["trace_id inherited from parent" if inherited else "trace_id generated"] += 1
        if m["no_created"]:
            reasons["created_at set to now()"] += 1
        if m["no_updated"]:
            reasons["updated_at set from created_at"] += 1
        if m.get("key_set"):
            reasons["idempotency_key set to legacy:<table>:<id>"] += 1
        if m.get("no_pkey"):
            reasons["partition_key derived from tenant.project.slug"] += 1
    return reasons


# ------------------------------------------------------------------------------------------
# the run


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("nf_alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM nf_alembic_version")).scalar()


def _register_tenancies(engine: Engine, tenant: str, project: str) -> dict[str, int]:
    """Default tenant/project plus every valid pair the core rows use (needed by P2's FKs)."""
    used = " UNION ".join(
        f"SELECT tenant_id, project_id FROM {s.name} WHERE tenant_id IS NOT NULL" for s in TABLES
    )
    with engine.begin() as conn:
        tenants = conn.execute(
            text("INSERT INTO tenants (id, name) VALUES (:t, :t) ON CONFLICT DO NOTHING"),
            {"t": tenant},
        ).rowcount
        projects = conn.execute(
            text(
                "INSERT INTO projects (tenant_id, id, name) VALUES (:t, :p, :p) "
                "ON CONFLICT DO NOTHING"
            ),
            {"t": tenant, "p": project},
        ).rowcount
        tenants += conn.execute(
            text(
                f"INSERT INTO tenants (id, name) SELECT DISTINCT tenant_id, tenant_id "
                f"FROM ({used}) AS u WHERE tenant_id ~ '{SLUG_SQL}' ON CONFLICT DO NOTHING"
            )
        ).rowcount
        projects += conn.execute(
            text(
                f"INSERT INTO projects (tenant_id, id, name) "
                f"SELECT DISTINCT tenant_id, project_id, project_id FROM ({used}) AS u "
                f"WHERE tenant_id ~ '{SLUG_SQL}' AND project_id ~ '{SLUG_SQL}' "
                "ON CONFLICT DO NOTHING"
            )
        ).rowcount
    return {"tenants created": tenants, "projects created": projects}


def _backfill_table(
    engine: Engine, spec: TableSpec, tenant: str, project: str, batch_size: int
) -> TableReport:
    report = TableReport(table=spec.name)
    with engine.connect() as conn:
        cols = _columns(conn, spec.name)
        predicate = _needs_fix(spec, cols)
        report.found = _count(conn, f"SELECT count(*) FROM {spec.name} AS t WHERE {predicate}")
        if "legacy_values" in cols:
            report.legacy_values = _count(
                conn, f"SELECT count(*) FROM {spec.name} WHERE legacy_values IS NOT NULL"
            )
    sql = text(_batch_sql(spec, cols))
    reasons: Counter[str] = Counter()
    # Rows inserted while we run are fixed too; the cap only guards against a runaway loop.
    max_batches = math.ceil(report.found / batch_size) + 100
    for _ in range(max_batches):
        with engine.begin() as conn:
            rows = conn.execute(
                sql, {"limit": batch_size, "tenant": tenant, "project": project}
            ).fetchall()
        if not rows:
            break
        report.fixed += len(rows)
        reasons += _reasons(rows, spec, tenant, project)
    report.reasons = dict(sorted(reasons.items()))
    return report


def _count_left(engine: Engine, report: TableReport, has_projects: bool) -> None:
    spec = next(s for s in TABLES if s.name == report.table)
    with engine.connect() as conn:
        cols = _columns(conn, spec.name)
        predicate = _needs_fix(spec, cols)
        missing = _count(conn, f"SELECT count(*) FROM {spec.name} AS t WHERE {predicate}")
        if missing:
            report.reasons["left: locked by another transaction or still incomplete"] = missing
        unregistered = 0
        if has_projects:
            unregistered = _count(
                conn,
                f"SELECT count(*) FROM {spec.name} AS t WHERE t.tenant_id IS NOT NULL "
                "AND t.project_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM projects AS p "
                "WHERE p.tenant_id = t.tenant_id AND p.id = t.project_id)",
            )
            if unregistered:
                report.reasons["left: tenant/project is not a valid slug, fix by hand"] = (
                    unregistered
                )
    report.left = missing + unregistered


def run_backfill(
    engine: Engine, *, tenant: str = "default", project: str = "default", batch_size: int = 500
) -> BackfillReport:
    """Complete the standard fields of every core row; see the module docstring."""
    if not (SLUG_RE.match(tenant) and SLUG_RE.match(project)):
        raise ValueError(f"tenant and project must match {SLUG_SQL}: {tenant!r}/{project!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    with engine.connect() as conn:
        revision = _revision(conn)
        at_p0 = inspect(conn).has_table("novels") and "tenant_id" in _columns(conn, "novels")
        if not at_p0:
            raise RuntimeError(
                "backfill needs the P0 columns (revision 0002_p0 or later); "
                f"the database is at {revision}"
            )
        has_projects = inspect(conn).has_table("projects")
    report = BackfillReport(
        revision=revision,
        tenant=tenant,
        project=project,
        batch_size=batch_size,
        started_at=datetime.now(UTC),
    )
    for spec in TABLES:
        report.tables.append(_backfill_table(engine, spec, tenant, project, batch_size))
    if has_projects:
        report.tenancies_registered = _register_tenancies(engine, tenant, project)
    else:
        report.notes.append(
            "tenants/projects do not exist yet (before 0003_p1); 0003 registers the tenancies "
            "in use when it creates them"
        )
    for table_report in report.tables:
        _count_left(engine, table_report, has_projects)
    legacy = sum(t.legacy_values for t in report.tables)
    if legacy:
        report.notes.append(
            f"{legacy} rows keep their pre-P0 values in legacy_values; P2 drops that column "
            "(the CLI exports them to backfill-legacy-values.jsonl first)"
        )
    report.finished_at = datetime.now(UTC)
    return report


def export_legacy_values(engine: Engine, path: Path) -> int:
    """Write every non-empty legacy_values as JSON lines {table, id, legacy_values}."""
    n = 0
    with engine.connect() as conn, path.open("w", encoding="utf-8") as out:
        for spec in TABLES:
            if "legacy_values" not in _columns(conn, spec.name):
                continue
            rows = conn.execute(
                text(
                    f"SELECT id::text, legacy_values FROM {spec.name} "
                    "WHERE legacy_values IS NOT NULL ORDER BY id"
                )
            )
            for row_id, values in rows:
                out.write(json.dumps({"table": spec.name, "id": row_id, "legacy_values": values}))
                out.write("\n")
                n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migrations.backfill", description=__doc__)
    parser.add_argument("--report-dir", type=Path, required=True)
    parser.add_argument("--url", help="database URL (default: NF_DATABASE_URL or embedded)")
    parser.add_argument("--tenant", default=None, help="default tenant (NF_DEFAULT_TENANT)")
    parser.add_argument("--project", default=None, help="default project (NF_DEFAULT_PROJECT)")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args(argv)

    from migrations.runner import resolve_url
    from shared.config import get_settings

    settings = get_settings()
    engine = create_engine(resolve_url(args.url), poolclass=pool.NullPool)
    try:
        report = run_backfill(
            engine,
            tenant=args.tenant or settings.default_tenant,
            project=args.project or settings.default_project,
            batch_size=args.batch_size,
        )
        args.report_dir.mkdir(parents=True, exist_ok=True)
        if any(t.legacy_values for t in report.tables):
            export_legacy_values(engine, args.report_dir / "backfill-legacy-values.jsonl")
    finally:
        engine.dispose()
    (args.report_dir / "backfill-report.json").write_text(report.to_json(), encoding="utf-8")
    (args.report_dir / "backfill-report.md").write_text(report.to_markdown(), encoding="utf-8")
    print(
        f"backfill: found {report.found}, fixed {report.fixed}, left {report.left} "
        f"(report in {args.report_dir})"
    )
    return 0 if report.left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
