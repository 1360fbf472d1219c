"""Row-level security: tenant isolation in depth, underneath the gateway's own checks.

Two NOLOGIN roles that a connection switches to per transaction (`SET LOCAL ROLE`, see
nf_services.submissions.apply_scope):

- `nf_app`: sees and writes only rows whose tenant is named in the transaction setting
  `nf.tenant_id` (one tenant slug or a comma-separated list; unset or empty: nothing);
- `nf_operator`: member of nf_app (same table privileges) with a permissive policy of its own
  that sees every tenant, for operators' cross-tenant work.

Policies cover `tenants` and every table with a NOT NULL `tenant_id` (the catalog is read, so the
list cannot go stale against the revisions before this one). `users` and `api_tokens` are per
user, not per tenant, and stay outside; authentication reads them before a tenant is known.

RLS is enabled, not FORCEd: the table owner (migrations, the Dagster pipeline's recorder, the
intake sensor) bypasses it on purpose, as trusted system paths that work across tenants.
Roles are cluster-wide, so they are created if missing and never dropped on downgrade (another
database on the server may use them); downgrade removes policies and privileges.

Revision ID: 0005_rls
Revises: 0004_p2
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from migrations import ddl
from migrations.runner import VERSION_TABLE

revision: str = "0005_rls"
down_revision: str | Sequence[str] | None = "0004_p2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "nf_app"
OPERATOR_ROLE = "nf_operator"
TENANT_MATCH = "= ANY (string_to_array(current_setting('nf.tenant_id', true), ','))"
TENANT_POLICY = "nf_tenant_isolation"
OPERATOR_POLICY = "nf_operator_all"


def _tenant_tables() -> list[str]:
    rows = op.get_bind().execute(
        sa.text(
            "SELECT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t "
            "  ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = 'public' AND c.column_name = 'tenant_id' "
            "  AND c.is_nullable = 'NO' AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name"
        )
    )
    return [r[0] for r in rows]


def upgrade() -> None:
    ddl.transactional_timeouts()  # ENABLE RLS takes ACCESS EXCLUSIVE: fail fast, retry later
    op.execute(
        f"""
        DO $$
        BEGIN
          -- Another database on the server may create them at the same moment.
          BEGIN
            CREATE ROLE {APP_ROLE} NOLOGIN;
          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
          END;
          BEGIN
            CREATE ROLE {OPERATOR_ROLE} NOLOGIN IN ROLE {APP_ROLE};
          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
          END;
          -- The connecting role must be able to SET ROLE to both (superusers always can).
          IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
            EXECUTE format('GRANT {APP_ROLE}, {OPERATOR_ROLE} TO %I', current_user);
          END IF;
        END
        $$;
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON {VERSION_TABLE} FROM {APP_ROLE}")
    # Tables of later revisions get the same privileges (their policies come with them).
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"
    )
    for table, column in [("tenants", "id"), *((t, "tenant_id") for t in _tenant_tables())]:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"DROP POLICY IF EXISTS {TENANT_POLICY} ON {table}")
        op.execute(
            f"CREATE POLICY {TENANT_POLICY} ON {table} TO {APP_ROLE} "
            f"USING ({column} {TENANT_MATCH}) WITH CHECK ({column} {TENANT_MATCH})"
        )
        op.execute(f"DROP POLICY IF EXISTS {OPERATOR_POLICY} ON {table}")
        op.execute(
            f"CREATE POLICY {OPERATOR_POLICY} ON {table} TO {OPERATOR_ROLE} "
            "USING (true) WITH CHECK (true)"
        )


def downgrade() -> None:
    for table in ["tenants", *_tenant_tables()]:
        op.execute(f"DROP POLICY IF EXISTS {OPERATOR_POLICY} ON {table}")
        op.execute(f"DROP POLICY IF EXISTS {TENANT_POLICY} ON {table}")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES "
        f"FROM {APP_ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {APP_ROLE}")
