"""Governance: gate outcomes per run and chapter, the experiment kind, the observer's index.

- `gate_results`: SKILL_16/SKILL_18 outcomes per run and chapter, written by the asset checks
  (nf_services.governance.gate_results.record_gate_results); the promotion gate and the A/B metrics
  read pass rates from here. New table, created in its final shape with its RLS policies (0005
  only covered the tables that existed then).
- `experiments.kind`: what the two refs of an experiment are (skill versions, prompt template
  versions or provider names); existing rows are skill-version experiments.
- `ix_jobs_failed_finished`: partial index on failed jobs by finish time, for the observer's daily
  failure rollup (without it the rollup reads every failed job ever recorded). Built
  concurrently: jobs is the biggest table.

Revision ID: 0007_gov_gates
Revises: 0005_rls
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from migrations import ddl

revision: str = "0007_gov_gates"
down_revision: str | Sequence[str] | None = "0005_rls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TSTZ = sa.DateTime(timezone=True)
TRACE_DEFAULT = "replace((gen_random_uuid())::text, '-'::text, ''::text)"
EXPERIMENT_KINDS = "'skill_version', 'prompt_template', 'provider'"
# Frozen copies of 0005's names.
APP_ROLE = "nf_app"
OPERATOR_ROLE = "nf_operator"
TENANT_MATCH = "= ANY (string_to_array(current_setting('nf.tenant_id', true), ','))"
TENANT_POLICY = "nf_tenant_isolation"
OPERATOR_POLICY = "nf_operator_all"


def _gate_results() -> None:
    op.create_table(
        "gate_results",
        sa.Column("id", sa.Uuid, nullable=False, server_default=sa.text("gen_random_uuid()")),
        sa.Column("run_id", sa.Uuid, nullable=False),
        sa.Column("novel_id", sa.Uuid),
        sa.Column("chapter_index", sa.Integer),
        sa.Column("gate", sa.Text, nullable=False),
        sa.Column("gate_version", sa.Text),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("metrics", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column("trace_id", sa.Text, nullable=False, server_default=sa.text(TRACE_DEFAULT)),
        sa.Column("created_at", TSTZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TSTZ, nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("id", name="pk_gate_results"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "project_id"],
            ["projects.tenant_id", "projects.id"],
            name="fk_gate_results_project",
        ),
        sa.CheckConstraint(
            "trace_id ~ '^[0-9a-f]{32}$'", name=op.f("ck_gate_results_trace_id_hex")
        ),
        sa.CheckConstraint("gate IN ('SKILL_16', 'SKILL_18')", name=op.f("ck_gate_results_gate")),
        sa.UniqueConstraint(
            "run_id",
            "gate",
            "chapter_index",
            name="uq_gate_results_run_gate_chapter",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index("ix_gate_results_tenant_project", "gate_results", ["tenant_id", "project_id"])
    op.create_index("ix_gate_results_trace_id", "gate_results", ["trace_id"])
    op.create_index("ix_gate_results_novel_chapter", "gate_results", ["novel_id", "chapter_index"])
    roles = (
        op.get_bind()
        .execute(
            sa.text("SELECT count(*) FROM pg_roles WHERE rolname IN (:a, :o)"),
            {"a": APP_ROLE, "o": OPERATOR_ROLE},
        )
        .scalar()
    )
    if roles == 2:
        op.execute("ALTER TABLE gate_results ENABLE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {TENANT_POLICY} ON gate_results TO {APP_ROLE} "
            f"USING (tenant_id {TENANT_MATCH}) WITH CHECK (tenant_id {TENANT_MATCH})"
        )
        op.execute(
            f"CREATE POLICY {OPERATOR_POLICY} ON gate_results TO {OPERATOR_ROLE} "
            "USING (true) WITH CHECK (true)"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON gate_results TO {APP_ROLE}")


def upgrade() -> None:
    ddl.transactional_timeouts()
    _gate_results()
    # A constant default: PostgreSQL 11+ adds the column without rewriting the table.
    op.add_column(
        "experiments",
        sa.Column("kind", sa.Text, nullable=False, server_default=sa.text("'skill_version'")),
    )
    op.create_check_constraint(
        op.f("ck_experiments_kind"), "experiments", f"kind IN ({EXPERIMENT_KINDS})"
    )
    with ddl.online_session():
        ddl.create_index_concurrently(
            "ix_jobs_failed_finished", "jobs", "finished_at", where="status = 'failed'::job_status"
        )


def downgrade() -> None:
    with ddl.online_session():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_jobs_failed_finished")
    ddl.transactional_timeouts()
    op.drop_constraint(op.f("ck_experiments_kind"), "experiments", type_="check")
    op.drop_column("experiments", "kind")
    op.drop_table("gate_results")
