"""P2: tighten the core tables once every row is backfilled.

Refuses to start (NF-TENANCY-002) while any core row lacks tenant_id/project_id (or trace_id,
timestamps, novels.partition_key) or points at an unregistered project; `nf db backfill` fixes
those. Then, in autocommit steps that each take a short lock and can be re-run: NOT NULL via a
validated CHECK (no scan under ACCESS EXCLUSIVE), the trace_id default, composite FKs to projects
(added NOT VALID, then validated), UNIQUE constraints over indexes built CONCURRENTLY, and the
legacy columns dropped.

Revision ID: 0004_p2
Revises: 0003_p1
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import ddl

revision: str = "0004_p2"
down_revision: str | Sequence[str] | None = "0003_p1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRACE_DEFAULT = "replace((gen_random_uuid())::text, '-'::text, ''::text)"
CORE_TABLES = (
    "novels",
    "chapters",
    "execution_requests",
    "render_runs",
    "jobs",
    "artifacts",
    "events",
)
STD_NOT_NULL = ("tenant_id", "project_id", "trace_id", "created_at", "updated_at")
EXTRA_NOT_NULL = {"novels": ("partition_key",)}
# (table, constraint, columns): UNIQUE constraints over concurrently built indexes.
UNIQUES = (
    *((t, f"uq_{t}_idempotency", "tenant_id, idempotency_key")
      for t in ("novels", "execution_requests", "render_runs", "jobs", "artifacts")),
    ("novels", "uq_novels_partition_key", "partition_key"),
)  # fmt: skip
# Unique indexes that P0 already had (restored as plain indexes on downgrade).
P0_UNIQUE_INDEXES = {"uq_jobs_idempotency", "uq_novels_partition_key"}
LEGACY_COLUMNS = {
    "novels": (("owner_name", "text"),),
    "execution_requests": (("legacy_values", "jsonb"),),
    "render_runs": (("legacy_values", "jsonb"),),
    "jobs": (("worker_name", "text"), ("legacy_values", "jsonb")),
    "events": (("legacy_values", "jsonb"),),
}


def _count(sql: str) -> int:
    return int(op.get_bind().execute(sa.text(sql)).scalar() or 0)


def _precheck() -> None:
    problems: list[str] = []
    for table in CORE_TABLES:
        untenanted = _count(
            f"SELECT count(*) FROM {table} WHERE tenant_id IS NULL OR project_id IS NULL"
        )
        required = [c for c in STD_NOT_NULL[2:] + EXTRA_NOT_NULL.get(table, ())]
        incomplete = _count(
            f"SELECT count(*) FROM {table} WHERE " + " OR ".join(f"{c} IS NULL" for c in required)
        )
        unregistered = _count(
            f"SELECT count(*) FROM {table} AS t WHERE t.tenant_id IS NOT NULL "
            "AND t.project_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM projects AS p "
            "WHERE p.tenant_id = t.tenant_id AND p.id = t.project_id)"
        )
        parts = []
        if untenanted:
            parts.append(f"{untenanted} rows lack tenant_id/project_id")
        if incomplete:
            parts.append(f"{incomplete} rows lack {'/'.join(required)}")
        if unregistered:
            parts.append(f"{unregistered} rows point at an unregistered tenant/project")
        if parts:
            problems.append(f"{table}: " + ", ".join(parts))
    if problems:
        raise RuntimeError(
            "[NF-TENANCY-002] P2 refused, rows are not backfilled: "
            + "; ".join(problems)
            + ". Run `nf db backfill` (python -m migrations.backfill) and upgrade again."
        )


def upgrade() -> None:
    _precheck()
    with ddl.online_session():
        for table in CORE_TABLES:
            for column in STD_NOT_NULL + EXTRA_NOT_NULL.get(table, ()):
                ddl.set_not_null_online(table, column)
            op.execute(f"ALTER TABLE {table} ALTER COLUMN trace_id SET DEFAULT {TRACE_DEFAULT}")
            ddl.add_fk_validated(
                table,
                f"fk_{table}_project",
                "FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id)",
            )
        for table, name, columns in UNIQUES:
            ddl.promote_unique_index(table, name, columns)
        for table, columns in LEGACY_COLUMNS.items():
            drops = ", ".join(f"DROP COLUMN IF EXISTS {c}" for c, _type in columns)
            op.execute(f"ALTER TABLE {table} {drops}")


def downgrade() -> None:
    ddl.transactional_timeouts()
    for table, columns in LEGACY_COLUMNS.items():
        adds = ", ".join(f"ADD COLUMN {c} {type_}" for c, type_ in columns)
        op.execute(f"ALTER TABLE {table} {adds}")
    for table, name, columns in UNIQUES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        if name in P0_UNIQUE_INDEXES:
            op.execute(f"CREATE UNIQUE INDEX {name} ON {table} ({columns})")
    for table in CORE_TABLES:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_project")
        nullable = ("tenant_id", "project_id", "trace_id", "created_at", "updated_at")
        nullable += EXTRA_NOT_NULL.get(table, ())
        alters = ", ".join(f"ALTER COLUMN {c} DROP NOT NULL" for c in nullable)
        op.execute(f"ALTER TABLE {table} ALTER COLUMN trace_id DROP DEFAULT, {alters}")
