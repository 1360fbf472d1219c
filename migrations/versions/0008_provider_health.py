"""Provider health: degraded jobs and failed provider calls are recorded.

- `jobs.degraded`: the job succeeded on a fallback because the configured provider did not
  deliver; the skill cache skips such jobs so the next run tries the provider again.
- `usage_ledger.status` / `usage_ledger.error_code`: every provider call is a ledger row,
  failed calls (units 0) and calls skipped by the circuit breaker or the run's provider deadline
  included, with the code they failed with.

Constant defaults: PostgreSQL 11+ adds the columns without rewriting the tables. The CHECKs and
the foreign key are added NOT VALID and validated online (jobs and usage_ledger are big).

Revision ID: 0008_provider_health
Revises: 0007_gov_gates
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import ddl

revision: str = "0008_provider_health"
down_revision: str | Sequence[str] | None = "0007_gov_gates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of shared.models.core.USAGE_STATUSES.
USAGE_STATUSES = "'succeeded', 'failed', 'skipped'"


def upgrade() -> None:
    ddl.transactional_timeouts()
    op.add_column(
        "jobs",
        sa.Column("degraded", sa.Boolean, nullable=False, server_default=sa.text("false")),
    )
    op.add_column(
        "usage_ledger",
        sa.Column("status", sa.Text, nullable=False, server_default=sa.text("'succeeded'")),
    )
    op.add_column("usage_ledger", sa.Column("error_code", sa.Text))
    with ddl.online_session():
        ddl.add_check_validated(
            "usage_ledger", "ck_usage_ledger_status", f"status IN ({USAGE_STATUSES})"
        )
        ddl.add_check_validated(
            "usage_ledger",
            "ck_usage_ledger_failed_has_code",
            "status = 'succeeded' OR error_code IS NOT NULL",
        )
        ddl.add_fk_validated(
            "usage_ledger",
            "fk_usage_ledger_error_code_error_codes",
            "FOREIGN KEY (error_code) REFERENCES error_codes (code)",
        )


def downgrade() -> None:
    ddl.transactional_timeouts()
    for name, kind in (
        ("fk_usage_ledger_error_code_error_codes", "foreignkey"),
        ("ck_usage_ledger_failed_has_code", "check"),
        ("ck_usage_ledger_status", "check"),
    ):
        op.drop_constraint(op.f(name), "usage_ledger", type_=kind)
    op.drop_column("usage_ledger", "error_code")
    op.drop_column("usage_ledger", "status")
    op.drop_column("jobs", "degraded")
