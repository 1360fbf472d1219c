"""Baseline: the legacy, pre-tenancy core schema.

The tables as they were before the standards: status and stage as free text, free-text error
codes, no tenant/project/trace fields, and two fields to retire (novels.owner_name,
jobs.worker_name). Later revisions bring this shape to the standard one without losing rows.

Revision ID: 0001_baseline
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TSTZ = sa.DateTime(timezone=True)
UUID_DEFAULT = sa.text("gen_random_uuid()")


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid, nullable=False, server_default=UUID_DEFAULT)


def _created_at() -> sa.Column:
    return sa.Column("created_at", TSTZ, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "novels",
        _id(),
        sa.Column("slug", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("language", sa.Text),
        sa.Column("source_path", sa.Text),
        sa.Column("owner_name", sa.Text),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_novels"),
        sa.UniqueConstraint("slug", name="uq_novels_slug"),
    )
    op.create_table(
        "chapters",
        _id(),
        sa.Column("novel_id", sa.Uuid, nullable=False),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("title", sa.Text),
        sa.Column("char_count", sa.Integer),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_chapters"),
        sa.ForeignKeyConstraint(
            ["novel_id"], ["novels.id"], name="fk_chapters_novel_id_novels", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("novel_id", "index", name="uq_chapters_novel_index"),
    )
    op.create_table(
        "execution_requests",
        _id(),
        sa.Column("novel_id", sa.Uuid),
        sa.Column("partition_key", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'new'")),
        sa.Column("stage", sa.Text),
        sa.Column("params", JSONB),
        sa.Column("error_code", sa.Text),
        sa.Column("error", sa.Text),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_execution_requests"),
        sa.ForeignKeyConstraint(
            ["novel_id"], ["novels.id"], name="fk_execution_requests_novel_id_novels"
        ),
    )
    op.create_table(
        "render_runs",
        _id(),
        sa.Column("request_id", sa.Uuid),
        sa.Column("partition_key", sa.Text),
        sa.Column("dagster_run_id", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'queued'")),
        sa.Column("stage", sa.Text),
        sa.Column("started_at", TSTZ),
        sa.Column("finished_at", TSTZ),
        sa.Column("error_code", sa.Text),
        sa.Column("error", sa.Text),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_render_runs"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["execution_requests.id"],
            name="fk_render_runs_request_id_execution_requests",
        ),
        sa.UniqueConstraint("dagster_run_id", name="uq_render_runs_dagster_run_id"),
    )
    op.create_table(
        "jobs",
        _id(),
        sa.Column("run_id", sa.Uuid),
        sa.Column("skill_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'pending'")),
        sa.Column("stage", sa.Text),
        sa.Column("attempt", sa.Integer, server_default=sa.text("1")),
        sa.Column("worker_name", sa.Text),
        sa.Column("started_at", TSTZ),
        sa.Column("finished_at", TSTZ),
        sa.Column("error_code", sa.Text),
        sa.Column("error", sa.Text),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["run_id"], ["render_runs.id"], name="fk_jobs_run_id_render_runs"),
    )
    op.create_table(
        "artifacts",
        _id(),
        sa.Column("job_id", sa.Uuid),
        sa.Column("novel_id", sa.Uuid),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text),
        sa.Column("size_bytes", sa.BigInteger),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_artifacts_job_id_jobs", ondelete="SET NULL"
        ),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, sa.Identity(always=False), nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("payload", JSONB),
        _created_at(),
        sa.Column("published_at", TSTZ),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )


def downgrade() -> None:
    for table in ("events", "artifacts", "jobs", "render_runs", "execution_requests"):
        op.drop_table(table)
    op.drop_table("chapters")
    op.drop_table("novels")
