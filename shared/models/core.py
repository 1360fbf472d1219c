"""Core pipeline tables: reference codes, novels and chapters, the request -> run -> job chain,
artifacts, the event outbox, the usage ledger and feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import (
    Base,
    FailureMixin,
    IdempotentMixin,
    StandardFields,
    pg_enum,
    std_table_args,
    uuid_pk,
)
from shared.models.enums import EventTopic, JobStatus, RequestStatus, RunStatus, Stage

STAGE = pg_enum(Stage, "nf_stage")
USAGE_STATUSES = "'succeeded', 'failed', 'skipped'"
EVENT_TOPIC_CHECK = "topic IN (" + ", ".join(f"'{t.value}'" for t in EventTopic) + ")"


class ErrorCodeRow(Base):
    """Mirror of shared.errors.REGISTRY (kept equal by shared.db.sync_error_codes)."""

    __tablename__ = "error_codes"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    domain: Mapped[str] = mapped_column(Text, nullable=False)
    retryable: Mapped[bool] = mapped_column(Boolean, nullable=False)
    http_status: Mapped[int] = mapped_column(Integer, nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)


class Novel(StandardFields, IdempotentMixin, Base):
    __tablename__ = "novels"
    __table_args__ = std_table_args(
        "novels",
        UniqueConstraint("partition_key", name="uq_novels_partition_key"),
        idempotent=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    language: Mapped[str | None] = mapped_column(Text)
    encoding: Mapped[str | None] = mapped_column(Text)
    # Dagster partition key, "<tenant>.<project>.<slug>"; globally unique.
    partition_key: Mapped[str] = mapped_column(Text, nullable=False)
    source_sha256: Mapped[str | None] = mapped_column(Text)
    source_path: Mapped[str | None] = mapped_column(Text)
    char_count: Mapped[int | None] = mapped_column(Integer)
    chapter_count: Mapped[int | None] = mapped_column(Integer)


class ChapterRow(StandardFields, Base):
    __tablename__ = "chapters"
    __table_args__ = std_table_args(
        "chapters", UniqueConstraint("novel_id", "index", name="uq_chapters_novel_index")
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    novel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("novels.id", ondelete="CASCADE"), nullable=False
    )
    index: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str | None] = mapped_column(Text)
    char_count: Mapped[int | None] = mapped_column(Integer)
    text_sha256: Mapped[str | None] = mapped_column(Text)


class ExecutionRequest(StandardFields, IdempotentMixin, FailureMixin, Base):
    __tablename__ = "execution_requests"
    __table_args__ = std_table_args(
        "execution_requests",
        CheckConstraint("status <> 'failed' OR error_code IS NOT NULL", name="failed_has_code"),
        Index("ix_execution_requests_novel_id", "novel_id"),
        idempotent=True,
        failure=True,
        queue=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # sha256 of the canonical request body: same key + different body -> NF-INPUT-008.
    request_hash: Mapped[str | None] = mapped_column(Text)
    novel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("novels.id"))
    partition_key: Mapped[str | None] = mapped_column(Text)
    status: Mapped[RequestStatus] = mapped_column(
        pg_enum(RequestStatus, "request_status"),
        nullable=False,
        default=RequestStatus.PENDING,
        server_default=text("'pending'"),
    )
    stage: Mapped[Stage] = mapped_column(
        STAGE, nullable=False, default=Stage.SUBMITTED, server_default=text("'submitted'")
    )
    params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    dagster_run_id: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RenderRun(StandardFields, IdempotentMixin, FailureMixin, Base):
    __tablename__ = "render_runs"
    __table_args__ = std_table_args(
        "render_runs",
        UniqueConstraint("dagster_run_id", name="uq_render_runs_dagster_run_id"),
        CheckConstraint("status <> 'failed' OR error_code IS NOT NULL", name="failed_has_code"),
        Index("ix_render_runs_request_id", "request_id"),
        idempotent=True,
        failure=True,
        queue=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("execution_requests.id"))
    novel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    partition_key: Mapped[str | None] = mapped_column(Text)
    dagster_run_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[RunStatus] = mapped_column(
        pg_enum(RunStatus, "run_status"),
        nullable=False,
        default=RunStatus.QUEUED,
        server_default=text("'queued'"),
    )
    stage: Mapped[Stage] = mapped_column(
        STAGE, nullable=False, default=Stage.QUEUED, server_default=text("'queued'")
    )
    retries: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(StandardFields, IdempotentMixin, FailureMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = std_table_args(
        "jobs",
        CheckConstraint("status <> 'failed' OR error_code IS NOT NULL", name="failed_has_code"),
        Index("ix_jobs_cache", "tenant_id", "skill_id", "input_hash"),
        Index("ix_jobs_run_id", "run_id"),
        # The observer's daily failure rollup (nf_services.governance.observer).
        Index("ix_jobs_failed_finished", "finished_at", postgresql_where=text("status = 'failed'")),
        idempotent=True,
        failure=True,
        queue=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("render_runs.id"))
    novel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    chapter_index: Mapped[int | None] = mapped_column(Integer)
    skill_id: Mapped[str] = mapped_column(Text, nullable=False)
    skill_version: Mapped[str | None] = mapped_column(Text)
    input_hash: Mapped[str | None] = mapped_column(Text)
    status: Mapped[JobStatus] = mapped_column(
        pg_enum(JobStatus, "job_status"),
        nullable=False,
        default=JobStatus.PENDING,
        server_default=text("'pending'"),
    )
    stage: Mapped[Stage] = mapped_column(STAGE, nullable=False)
    attempt: Mapped[int] = mapped_column(
        Integer, nullable=False, default=1, server_default=text("1")
    )
    provider: Mapped[str | None] = mapped_column(Text)
    output_artifact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    # Succeeded on a fallback because the configured provider did not deliver: served for its
    # run, never from the skill cache (the next run tries the provider again).
    degraded: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=text("false")
    )


class Artifact(StandardFields, IdempotentMixin, Base):
    __tablename__ = "artifacts"
    __table_args__ = std_table_args(
        "artifacts",
        Index("ix_artifacts_job_id", "job_id"),
        Index("ix_artifacts_novel_chapter", "novel_id", "chapter_index"),
        idempotent=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    novel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    chapter_index: Mapped[int | None] = mapped_column(Integer)
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("jobs.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    # Relative to the artifact root (shared.storage resolves and refuses escapes).
    path: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mime: Mapped[str | None] = mapped_column(Text)
    skill_id: Mapped[str | None] = mapped_column(Text)
    skill_version: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )


class Event(StandardFields, FailureMixin, Base):
    """Transactional outbox: append-only; request/run/job ids carry no FK on purpose."""

    __tablename__ = "events"
    __table_args__ = std_table_args(
        "events",
        CheckConstraint(EVENT_TOPIC_CHECK, name="topic"),
        Index("ix_events_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        Index("ix_events_run_id", "run_id"),
        failure=True,
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    topic: Mapped[str] = mapped_column(Text, nullable=False)
    stage: Mapped[Stage | None] = mapped_column(STAGE)
    request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    payload: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UsageLedger(StandardFields, IdempotentMixin, Base):
    __tablename__ = "usage_ledger"
    __table_args__ = std_table_args(
        "usage_ledger",
        Index("ix_usage_ledger_created_at", "created_at"),
        Index("ix_usage_ledger_run_id", "run_id"),
        CheckConstraint(f"status IN ({USAGE_STATUSES})", name="status"),
        CheckConstraint("status = 'succeeded' OR error_code IS NOT NULL", name="failed_has_code"),
        idempotent=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    skill_id: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(Text, nullable=False)
    model: Mapped[str | None] = mapped_column(Text)
    units: Mapped[float] = mapped_column(Float, nullable=False)
    unit: Mapped[str] = mapped_column(Text, nullable=False)
    cost_usd: Mapped[Decimal] = mapped_column(
        Numeric(12, 6), nullable=False, default=Decimal(0), server_default=text("0")
    )
    # succeeded | failed (called, failed: units 0) | skipped (not called: breaker open or the
    # run's provider deadline spent); failed and skipped rows carry the error code.
    status: Mapped[str] = mapped_column(
        Text, nullable=False, default="succeeded", server_default=text("'succeeded'")
    )
    error_code: Mapped[str | None] = mapped_column(Text, ForeignKey("error_codes.code"))


class Feedback(StandardFields, IdempotentMixin, Base):
    __tablename__ = "feedback"
    __table_args__ = std_table_args(
        "feedback",
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        Index("ix_feedback_skill", "skill_id", "skill_version"),
        Index("ix_feedback_target", "target_kind", "target_id"),
        idempotent=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    target_kind: Mapped[str] = mapped_column(Text, nullable=False)
    target_id: Mapped[str] = mapped_column(Text, nullable=False)
    rating: Mapped[int | None] = mapped_column(SmallInteger)
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(Text), nullable=False, default=list, server_default=text("'{}'::text[]")
    )
    comment: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    skill_id: Mapped[str | None] = mapped_column(Text)
    skill_version: Mapped[str | None] = mapped_column(Text)
