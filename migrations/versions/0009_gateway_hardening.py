"""Gateway hardening: session revocation, token lineage, logout.

- `users.sessions_revoked_at`: access tokens issued before it are refused (password change,
  "log out everywhere", a disabled user).
- `api_tokens.parent_id`: the API token that created a token; a child never outlives its parent
  and is revoked with it (ON DELETE CASCADE for deletions, the gateway cascades revocations).
- `revoked_access_tokens`: the jti of access tokens ended by logout before their expiry.

All additions are nullable columns or new objects: no table rewrite. The index on
api_tokens.parent_id is built concurrently (api_tokens is read on every API call).

Revision ID: 0009_gateway_hardening
Revises: 0008_provider_health
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import ddl

revision: str = "0009_gateway_hardening"
down_revision: str | Sequence[str] | None = "0008_provider_health"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    ddl.transactional_timeouts()
    op.add_column("users", sa.Column("sessions_revoked_at", sa.DateTime(timezone=True)))
    op.add_column("api_tokens", sa.Column("parent_id", sa.Uuid))
    op.create_foreign_key(
        op.f("fk_api_tokens_parent_id_api_tokens"),
        "api_tokens",
        "api_tokens",
        ["parent_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_table(
        "revoked_access_tokens",
        sa.Column("jti", sa.Text, nullable=False),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_access_tokens")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_revoked_access_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_revoked_access_tokens_expires_at"), "revoked_access_tokens", ["expires_at"]
    )
    with ddl.online_session():
        ddl.create_index_concurrently("ix_api_tokens_parent_id", "api_tokens", "parent_id")


def downgrade() -> None:
    ddl.transactional_timeouts()
    op.drop_index(op.f("ix_api_tokens_parent_id"), table_name="api_tokens")
    op.drop_table("revoked_access_tokens")
    op.drop_constraint(op.f("fk_api_tokens_parent_id_api_tokens"), "api_tokens", "foreignkey")
    op.drop_column("api_tokens", "parent_id")
    op.drop_column("users", "sessions_revoked_at")
