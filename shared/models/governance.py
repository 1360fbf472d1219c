"""Governance: skill versions and prompt templates as data, the proposal -> review -> promotion
flow, and A/B experiments with their variant assignments. Platform defaults live in tenant
'default', project 'default'."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import (
    Base,
    IdempotentMixin,
    StandardFields,
    pg_enum,
    std_table_args,
    uuid_pk,
)
from shared.models.enums import ExperimentStatus, ProposalStatus

VERSION_STATUS_CHECK = "status IN ('candidate', 'active', 'retired')"
PROPOSAL_KINDS = ("skill_version", "prompt_template", "provider", "embedding_version")
EXPERIMENT_KINDS = ("skill_version", "prompt_template", "provider")


class SkillVersion(StandardFields, Base):
    __tablename__ = "skill_versions"
    __table_args__ = std_table_args(
        "skill_versions",
        CheckConstraint(VERSION_STATUS_CHECK, name="status"),
        UniqueConstraint(
            "tenant_id", "project_id", "skill_id", "version", name="uq_skill_versions_key"
        ),
        Index(
            "uq_skill_versions_one_active",
            "tenant_id",
            "project_id",
            "skill_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    skill_id: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(
        Text, nullable=False, default="candidate", server_default=text("'candidate'")
    )
    config: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )


class PromptTemplate(StandardFields, Base):
    __tablename__ = "prompt_templates"
    __table_args__ = std_table_args(
        "prompt_templates",
        CheckConstraint(VERSION_STATUS_CHECK, name="status"),
        UniqueConstraint(
            "tenant_id",
            "project_id",
            "skill_id",
            "name",
            "version",
            name="uq_prompt_templates_key",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    skill_id: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[str] = mapped_column(Text, nullable=False)
    template: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(
        Text, nullable=False, default="candidate", server_default=text("'candidate'")
    )


class Proposal(StandardFields, IdempotentMixin, Base):
    __tablename__ = "proposals"
    __table_args__ = std_table_args(
        "proposals",
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in PROPOSAL_KINDS) + ")", name="kind"
        ),
        Index("ix_proposals_status_created", "status", "created_at"),
        idempotent=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    target: Mapped[str] = mapped_column(Text, nullable=False)
    from_ref: Mapped[str | None] = mapped_column(Text)
    to_ref: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[ProposalStatus] = mapped_column(
        pg_enum(ProposalStatus, "proposal_status"),
        nullable=False,
        default=ProposalStatus.DRAFT,
        server_default=text("'draft'"),
    )
    created_by: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    gate_report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ProposalReview(StandardFields, Base):
    __tablename__ = "proposal_reviews"
    __table_args__ = std_table_args(
        "proposal_reviews", Index("ix_proposal_reviews_proposal_id", "proposal_id")
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("proposals.id", ondelete="CASCADE"), nullable=False
    )
    reviewer: Mapped[str] = mapped_column(Text, nullable=False)
    decision: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)


class Promotion(StandardFields, Base):
    __tablename__ = "promotions"
    __table_args__ = std_table_args("promotions", Index("ix_promotions_proposal_id", "proposal_id"))

    id: Mapped[uuid.UUID] = uuid_pk()
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("proposals.id", ondelete="CASCADE"), nullable=False
    )
    promoted_by: Mapped[str | None] = mapped_column(Text)
    gate_report: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
    rolled_back_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Experiment(StandardFields, Base):
    __tablename__ = "experiments"
    __table_args__ = std_table_args(
        "experiments",
        CheckConstraint("min_samples > 0", name="min_samples_positive"),
        CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in EXPERIMENT_KINDS) + ")", name="kind"
        ),
        UniqueConstraint("tenant_id", "project_id", "name", name="uq_experiments_name"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    # What the two refs are: skill versions, prompt template versions or provider names.
    kind: Mapped[str] = mapped_column(
        Text, nullable=False, default="skill_version", server_default=text("'skill_version'")
    )
    skill_id: Mapped[str | None] = mapped_column(Text)
    control_ref: Mapped[str] = mapped_column(Text, nullable=False)
    candidate_ref: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[ExperimentStatus] = mapped_column(
        pg_enum(ExperimentStatus, "experiment_status"),
        nullable=False,
        default=ExperimentStatus.DRAFT,
        server_default=text("'draft'"),
    )
    metric: Mapped[str] = mapped_column(Text, nullable=False)
    min_samples: Mapped[int] = mapped_column(
        Integer, nullable=False, default=30, server_default=text("30")
    )
    p_value: Mapped[float | None] = mapped_column(Float)
    effect_size: Mapped[float | None] = mapped_column(Float)
    decision: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class VariantAssignment(StandardFields, Base):
    __tablename__ = "variant_assignments"
    __table_args__ = std_table_args(
        "variant_assignments",
        UniqueConstraint("experiment_id", "unit_id", name="uq_variant_assignments_unit"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    )
    unit_id: Mapped[str] = mapped_column(Text, nullable=False)
    variant: Mapped[str] = mapped_column(Text, nullable=False)
