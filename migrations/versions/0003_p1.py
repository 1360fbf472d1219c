"""P1: tenancy and auth, observer aggregates, RAG governance, proposals and experiments,
composer records, the usage ledger and feedback.

All tables are new, so they are created in their final shape (NOT NULL standard fields and the
composite FK to projects) in one transaction; nothing existing is locked except by the FKs'
brief references. The tenancies the core tables already use are registered (tenant 'default',
project 'default' always), so P2 can add its foreign keys.

Revision ID: 0003_p1
Revises: 0002_p0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, ENUM, JSONB

from migrations import ddl

revision: str = "0003_p1"
down_revision: str | Sequence[str] | None = "0002_p0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLUG = "^[a-z0-9][a-z0-9_-]{0,62}$"
TRACE_CHECK = "trace_id ~ '^[0-9a-f]{32}$'"
TRACE_DEFAULT = "replace((gen_random_uuid())::text, '-'::text, ''::text)"
TSTZ = sa.DateTime(timezone=True)
ENUMS = {
    "member_role": ("owner", "editor", "viewer"),
    "embedding_status": ("candidate", "active", "retired"),
    "proposal_status": ("draft", "in_review", "approved", "rejected", "promoted", "rolled_back"),
    "experiment_status": ("draft", "running", "decided", "stopped"),
}
VERSION_STATUS_CHECK = "status IN ('candidate', 'active', 'retired')"
CORE_TABLES = (
    "novels",
    "chapters",
    "execution_requests",
    "render_runs",
    "jobs",
    "artifacts",
    "events",
)


def _enum(name: str) -> ENUM:
    return ENUM(*ENUMS[name], name=name, create_type=False)


def _id() -> sa.Column:
    return sa.Column("id", sa.Uuid, nullable=False, server_default=sa.text("gen_random_uuid()"))


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", TSTZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TSTZ, nullable=False, server_default=sa.text("now()")),
    ]


def _jsonb(name: str, default: str | None = "'{}'::jsonb") -> sa.Column:
    if default is None:
        return sa.Column(name, JSONB)
    return sa.Column(name, JSONB, nullable=False, server_default=sa.text(default))


def _int(name: str, default: str | None = None) -> sa.Column:
    if default is None:
        return sa.Column(name, sa.Integer, nullable=False)
    return sa.Column(name, sa.Integer, nullable=False, server_default=sa.text(default))


def _text(name: str, nullable: bool = True, default: str | None = None) -> sa.Column:
    kw: dict[str, Any] = {"nullable": nullable}
    if default is not None:
        kw["server_default"] = sa.text(default)
    return sa.Column(name, sa.Text, **kw)


# CHECK names are wrapped in op.f(): the models' naming convention ("ck_<table>_<name>") would
# otherwise be applied on top of these already complete names.


def _tenant_table(
    name: str,
    *items: Any,
    idempotent: bool = False,
    failure: bool = False,
    pk: sa.Column | None = None,
) -> None:
    """A table with the standard fields, constraints and indexes (as shared.models.base)."""
    columns: list[Any] = [pk if pk is not None else _id(), *items]
    columns += [
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("project_id", sa.Text, nullable=False),
        sa.Column("trace_id", sa.Text, nullable=False, server_default=sa.text(TRACE_DEFAULT)),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "project_id"],
            ["projects.tenant_id", "projects.id"],
            name=f"fk_{name}_project",
        ),
        sa.CheckConstraint(TRACE_CHECK, name=op.f(f"ck_{name}_trace_id_hex")),
    ]
    if idempotent:
        columns += [
            sa.Column("idempotency_key", sa.Text),
            sa.UniqueConstraint("tenant_id", "idempotency_key", name=f"uq_{name}_idempotency"),
        ]
    if failure:
        columns += [
            sa.Column("error_code", sa.Text),
            sa.Column("error_message", sa.Text),
            sa.ForeignKeyConstraint(
                ["error_code"], ["error_codes.code"], name=f"fk_{name}_error_code_error_codes"
            ),
        ]
    op.create_table(name, *columns)
    op.create_index(f"ix_{name}_tenant_project", name, ["tenant_id", "project_id"])
    op.create_index(f"ix_{name}_trace_id", name, ["trace_id"])
    if failure:
        op.create_index(f"ix_{name}_error_code", name, ["error_code"])


def _auth() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.CheckConstraint(f"id ~ '{SLUG}'", name=op.f("ck_tenants_id_slug")),
    )
    op.create_table(
        "projects",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        _jsonb("config"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_projects"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_projects_tenant_id_tenants"
        ),  # fmt: skip
        sa.CheckConstraint(f"id ~ '{SLUG}'", name=op.f("ck_projects_id_slug")),
    )
    op.create_table(
        "users",
        _id(),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("display_name", sa.Text),
        sa.Column("is_operator", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("disabled_at", TSTZ),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("uq_users_email_lower", "users", [sa.text("lower(email)")], unique=True)
    op.create_table(
        "memberships",
        _id(),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("project_id", sa.Text),
        sa.Column("role", _enum("member_role"), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_memberships_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_memberships_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "project_id"],
            ["projects.tenant_id", "projects.id"],
            name="fk_memberships_project",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "user_id",
            "tenant_id",
            "project_id",
            name="uq_memberships_user_scope",
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_index("ix_memberships_tenant_project", "memberships", ["tenant_id", "project_id"])
    op.create_table(
        "api_tokens",
        _id(),
        sa.Column("user_id", sa.Uuid, nullable=False),
        sa.Column("tenant_id", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("token_hash", sa.Text, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("expires_at", TSTZ),
        sa.Column("revoked_at", TSTZ),
        sa.Column("last_used_at", TSTZ),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_api_tokens_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])


def _register_tenancies() -> None:
    """Tenant 'default'/project 'default' plus every valid pair the core rows already use."""
    op.execute(
        "INSERT INTO tenants (id, name) VALUES ('default', 'Default tenant') ON CONFLICT DO NOTHING"
    )
    op.execute(
        "INSERT INTO projects (tenant_id, id, name) "
        "VALUES ('default', 'default', 'Default project') "
        "ON CONFLICT DO NOTHING"
    )
    used = " UNION ".join(
        f"SELECT tenant_id, project_id FROM {t} WHERE tenant_id IS NOT NULL" for t in CORE_TABLES
    )
    op.execute(
        f"INSERT INTO tenants (id, name) SELECT DISTINCT tenant_id, tenant_id FROM ({used}) AS u "
        f"WHERE tenant_id ~ '{SLUG}' ON CONFLICT DO NOTHING"
    )
    op.execute(
        "INSERT INTO projects (tenant_id, id, name) "
        "SELECT DISTINCT tenant_id, project_id, project_id "
        f"FROM ({used}) AS u WHERE tenant_id ~ '{SLUG}' AND project_id ~ '{SLUG}' "
        "ON CONFLICT DO NOTHING"
    )


def _observer() -> None:
    _tenant_table(
        "observer_error_daily",
        sa.Column("day", sa.Date, nullable=False),
        _text("error_code", nullable=False),
        _text("skill_id"),
        _text("provider"),
        _int("failures", "0"),
        sa.ForeignKeyConstraint(
            ["error_code"],
            ["error_codes.code"],
            name="fk_observer_error_daily_error_code_error_codes"
        ),
        sa.UniqueConstraint(
            "tenant_id", "project_id", "day", "error_code", "skill_id", "provider",
            name="uq_observer_error_daily_key", postgresql_nulls_not_distinct=True,
        ),
    )  # fmt: skip
    op.create_index("ix_observer_error_daily_error_code", "observer_error_daily", ["error_code"])
    _tenant_table(
        "observer_cost_daily",
        sa.Column("day", sa.Date, nullable=False),
        _text("skill_id"),
        _text("provider"),
        _int("calls", "0"),
        sa.Column("units", sa.Float, nullable=False, server_default=sa.text("0")),
        sa.Column("cost_usd", sa.Numeric(12, 6), nullable=False, server_default=sa.text("0")),
        _int("chapters", "0"),
        sa.UniqueConstraint(
            "tenant_id", "project_id", "day", "skill_id", "provider",
            name="uq_observer_cost_daily_key", postgresql_nulls_not_distinct=True,
        ),
    )  # fmt: skip


def _rag() -> None:
    _tenant_table(
        "embedding_versions",
        _text("name", nullable=False),
        _text("backend", nullable=False),
        _text("model", nullable=False),
        _text("version", nullable=False),
        _int("dimensions"),
        sa.Column(
            "status",
            _enum("embedding_status"),
            nullable=False,
            server_default=sa.text("'candidate'"),
        ),
        _jsonb("params"),
        _text("created_by"),
        _text("promoted_by"),
        sa.Column("promoted_at", TSTZ),
        sa.Column("retired_at", TSTZ),
        _text("reason"),
        sa.CheckConstraint(
            "dimensions > 0", name=op.f("ck_embedding_versions_dimensions_positive")
        ),
        sa.UniqueConstraint("tenant_id", "project_id", "name", name="uq_embedding_versions_name"),
    )
    op.create_index(
        "uq_embedding_versions_one_active",
        "embedding_versions",
        ["tenant_id", "project_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    _tenant_table(
        "rag_chunks",
        sa.Column("novel_id", sa.Uuid, nullable=False),
        _int("chapter_index"),
        _int("start_offset"),
        _int("end_offset"),
        _text("text", nullable=False),
        _text("text_sha256", nullable=False),
        sa.ForeignKeyConstraint(
            ["novel_id"], ["novels.id"], name="fk_rag_chunks_novel_id_novels", ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "end_offset >= start_offset", name=op.f("ck_rag_chunks_offsets_ordered")
        ),
        pk=sa.Column("id", sa.Text, nullable=False),
    )
    op.create_index("ix_rag_chunks_novel_chapter", "rag_chunks", ["novel_id", "chapter_index"])
    _tenant_table(
        "rag_embeddings",
        sa.Column("chunk_id", sa.Text, nullable=False),
        sa.Column("embedding_version_id", sa.Uuid, nullable=False),
        sa.Column("vector", ARRAY(sa.REAL), nullable=False),
        sa.ForeignKeyConstraint(
            ["chunk_id"], ["rag_chunks.id"], name="fk_rag_embeddings_chunk_id_rag_chunks",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["embedding_version_id"], ["embedding_versions.id"],
            name="fk_rag_embeddings_embedding_version_id_embedding_versions", ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "chunk_id", "embedding_version_id", name="uq_rag_embeddings_chunk_version"
        ),
    )  # fmt: skip
    op.create_index("ix_rag_embeddings_version", "rag_embeddings", ["embedding_version_id"])
    _tenant_table(
        "rag_eval_sets",
        sa.Column("novel_id", sa.Uuid),
        _text("name", nullable=False),
        _text("kind", nullable=False),
        _jsonb("items", "'[]'::jsonb"),
        sa.ForeignKeyConstraint(
            ["novel_id"],
            ["novels.id"],
            name="fk_rag_eval_sets_novel_id_novels",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("kind IN ('auto', 'manual')", name=op.f("ck_rag_eval_sets_kind")),
    )
    _tenant_table(
        "rag_eval_results",
        sa.Column("eval_set_id", sa.Uuid, nullable=False),
        sa.Column("embedding_version_id", sa.Uuid, nullable=False),
        _int("k"),
        sa.Column("recall_at_k", sa.Float, nullable=False),
        sa.Column("mrr", sa.Float, nullable=False),
        _int("n_queries"),
        _jsonb("details"),
        sa.ForeignKeyConstraint(
            ["eval_set_id"], ["rag_eval_sets.id"],
            name="fk_rag_eval_results_eval_set_id_rag_eval_sets", ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["embedding_version_id"], ["embedding_versions.id"],
            name="fk_rag_eval_results_embedding_version_id_embedding_versions", ondelete="CASCADE",
        ),
    )  # fmt: skip
    op.create_index(
        "ix_rag_eval_results_version_created",
        "rag_eval_results",
        ["embedding_version_id", "created_at"],
    )
    op.create_index("ix_rag_eval_results_eval_set_id", "rag_eval_results", ["eval_set_id"])
    _tenant_table(
        "rag_rollback_suggestions",
        _text("kind", nullable=False),
        sa.Column("from_version_id", sa.Uuid),
        sa.Column("to_version_id", sa.Uuid),
        _jsonb("evidence"),
        _text("status", nullable=False, default="'open'"),
        sa.ForeignKeyConstraint(
            ["from_version_id"], ["embedding_versions.id"],
            name="fk_rag_rollback_suggestions_from_version_id_embedding_versions",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"], ["embedding_versions.id"],
            name="fk_rag_rollback_suggestions_to_version_id_embedding_versions",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "kind IN ('rollback', 'promote')", name=op.f("ck_rag_rollback_suggestions_kind")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'dismissed')",
            name=op.f("ck_rag_rollback_suggestions_status"),
        ),
    )  # fmt: skip
    op.create_index("ix_rag_rollback_suggestions_status", "rag_rollback_suggestions", ["status"])


def _governance() -> None:
    _tenant_table(
        "skill_versions",
        _text("skill_id", nullable=False),
        _text("version", nullable=False),
        _text("status", nullable=False, default="'candidate'"),
        _jsonb("config"),
        sa.CheckConstraint(VERSION_STATUS_CHECK, name=op.f("ck_skill_versions_status")),
        sa.UniqueConstraint(
            "tenant_id", "project_id", "skill_id", "version", name="uq_skill_versions_key"
        ),
    )
    op.create_index(
        "uq_skill_versions_one_active",
        "skill_versions",
        ["tenant_id", "project_id", "skill_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    _tenant_table(
        "prompt_templates",
        _text("skill_id", nullable=False),
        _text("name", nullable=False),
        _text("version", nullable=False),
        _text("template", nullable=False),
        _text("status", nullable=False, default="'candidate'"),
        sa.CheckConstraint(VERSION_STATUS_CHECK, name=op.f("ck_prompt_templates_status")),
        sa.UniqueConstraint(
            "tenant_id", "project_id", "skill_id", "name", "version",
            name="uq_prompt_templates_key",
        ),
    )  # fmt: skip
    kinds = "'skill_version', 'prompt_template', 'provider', 'embedding_version'"
    _tenant_table(
        "proposals",
        _text("kind", nullable=False),
        _text("target", nullable=False),
        _text("from_ref"),
        _text("to_ref", nullable=False),
        sa.Column(
            "status", _enum("proposal_status"), nullable=False, server_default=sa.text("'draft'")
        ),
        _text("created_by"),
        _text("reason"),
        _jsonb("gate_report", None),
        sa.CheckConstraint(f"kind IN ({kinds})", name=op.f("ck_proposals_kind")),
        idempotent=True,
    )
    op.create_index("ix_proposals_status_created", "proposals", ["status", "created_at"])
    _tenant_table(
        "proposal_reviews",
        sa.Column("proposal_id", sa.Uuid, nullable=False),
        _text("reviewer", nullable=False),
        _text("decision", nullable=False),
        _text("reason"),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name="fk_proposal_reviews_proposal_id_proposals",
            ondelete="CASCADE",
        ),
    )  # fmt: skip
    op.create_index("ix_proposal_reviews_proposal_id", "proposal_reviews", ["proposal_id"])
    _tenant_table(
        "promotions",
        sa.Column("proposal_id", sa.Uuid, nullable=False),
        _text("promoted_by"),
        _jsonb("gate_report"),
        sa.Column("rolled_back_at", TSTZ),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name="fk_promotions_proposal_id_proposals",
            ondelete="CASCADE",
        ),
    )  # fmt: skip
    op.create_index("ix_promotions_proposal_id", "promotions", ["proposal_id"])
    _tenant_table(
        "experiments",
        _text("name", nullable=False),
        _text("skill_id"),
        _text("control_ref", nullable=False),
        _text("candidate_ref", nullable=False),
        sa.Column(
            "status", _enum("experiment_status"), nullable=False, server_default=sa.text("'draft'")
        ),
        _text("metric", nullable=False),
        _int("min_samples", "30"),
        sa.Column("p_value", sa.Float),
        sa.Column("effect_size", sa.Float),
        _text("decision"),
        _jsonb("result", None),
        sa.CheckConstraint("min_samples > 0", name=op.f("ck_experiments_min_samples_positive")),
        sa.UniqueConstraint("tenant_id", "project_id", "name", name="uq_experiments_name"),
    )
    _tenant_table(
        "variant_assignments",
        sa.Column("experiment_id", sa.Uuid, nullable=False),
        _text("unit_id", nullable=False),
        _text("variant", nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"],
            name="fk_variant_assignments_experiment_id_experiments", ondelete="CASCADE",
        ),
        sa.UniqueConstraint("experiment_id", "unit_id", name="uq_variant_assignments_unit"),
    )  # fmt: skip


def _composer_and_ledger() -> None:
    _tenant_table(
        "composer_batches",
        sa.Column("novel_id", sa.Uuid),
        sa.Column("run_id", sa.Uuid),
        _text("status", nullable=False, default="'pending'"),
        _int("chapters", "0"),
        sa.Column("total_seconds", sa.Float),
        idempotent=True,
        failure=True,
    )
    op.create_index("ix_composer_batches_run_id", "composer_batches", ["run_id"])
    _tenant_table(
        "export_records",
        sa.Column("novel_id", sa.Uuid),
        sa.Column("run_id", sa.Uuid),
        sa.Column("batch_id", sa.Uuid),
        _text("manifest_path", nullable=False),
        _int("chapters", "0"),
        _text("status", nullable=False, default="'written'"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["composer_batches.id"],
            name="fk_export_records_batch_id_composer_batches", ondelete="SET NULL",
        ),
        idempotent=True,
    )  # fmt: skip
    op.create_index("ix_export_records_run_id", "export_records", ["run_id"])
    _tenant_table(
        "usage_ledger",
        sa.Column("run_id", sa.Uuid),
        sa.Column("job_id", sa.Uuid),
        _text("skill_id"),
        _text("provider", nullable=False),
        _text("model"),
        sa.Column("units", sa.Float, nullable=False),
        _text("unit", nullable=False),
        sa.Column("cost_usd", sa.Numeric(12, 6), nullable=False, server_default=sa.text("0")),
        idempotent=True,
    )
    op.create_index("ix_usage_ledger_created_at", "usage_ledger", ["created_at"])
    op.create_index("ix_usage_ledger_run_id", "usage_ledger", ["run_id"])
    _tenant_table(
        "feedback",
        _text("target_kind", nullable=False),
        _text("target_id", nullable=False),
        sa.Column("rating", sa.SmallInteger),
        sa.Column("tags", ARRAY(sa.Text), nullable=False, server_default=sa.text("'{}'::text[]")),
        _text("comment"),
        sa.Column("user_id", sa.Uuid),
        _text("skill_id"),
        _text("skill_version"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_feedback_rating_range")),
        idempotent=True,
    )
    op.create_index("ix_feedback_skill", "feedback", ["skill_id", "skill_version"])
    op.create_index("ix_feedback_target", "feedback", ["target_kind", "target_id"])


# Children before parents.
NEW_TABLES = (
    "feedback", "usage_ledger", "export_records", "composer_batches", "variant_assignments",
    "experiments", "promotions", "proposal_reviews", "proposals", "prompt_templates",
    "skill_versions", "rag_rollback_suggestions", "rag_eval_results", "rag_eval_sets",
    "rag_embeddings", "rag_chunks", "embedding_versions", "observer_cost_daily",
    "observer_error_daily", "api_tokens", "memberships", "users", "projects", "tenants",
)  # fmt: skip


def upgrade() -> None:
    ddl.transactional_timeouts()
    for name, values in ENUMS.items():
        op.execute(f"CREATE TYPE {name} AS ENUM (" + ", ".join(f"'{v}'" for v in values) + ")")
    _auth()
    _register_tenancies()
    _observer()
    _rag()
    _governance()
    _composer_and_ledger()


def downgrade() -> None:
    ddl.transactional_timeouts()
    for table in NEW_TABLES:
        op.drop_table(table)
    for name in reversed(ENUMS):
        op.execute(f"DROP TYPE {name}")
