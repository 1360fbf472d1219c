"""RAG governance: embedding versions (at most one active per project), chunks, embeddings per
version, evaluation sets and results, and rollback/promote suggestions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    REAL,
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, StandardFields, pg_enum, std_table_args, uuid_pk
from shared.models.enums import EmbeddingStatus


class EmbeddingVersion(StandardFields, Base):
    __tablename__ = "embedding_versions"
    __table_args__ = std_table_args(
        "embedding_versions",
        CheckConstraint("dimensions > 0", name="dimensions_positive"),
        UniqueConstraint("tenant_id", "project_id", "name", name="uq_embedding_versions_name"),
        Index(
            "uq_embedding_versions_one_active",
            "tenant_id",
            "project_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False)
    backend: Mapped[str] = mapped_column(Text, nullable=False)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[str] = mapped_column(Text, nullable=False)
    dimensions: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[EmbeddingStatus] = mapped_column(
        pg_enum(EmbeddingStatus, "embedding_status"),
        nullable=False,
        default=EmbeddingStatus.CANDIDATE,
        server_default=text("'candidate'"),
    )
    params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
    created_by: Mapped[str | None] = mapped_column(Text)
    promoted_by: Mapped[str | None] = mapped_column(Text)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)


class RagChunk(StandardFields, Base):
    """id is the stable chunk id (derived from novel, chapter and offsets by SKILL_03)."""

    __tablename__ = "rag_chunks"
    __table_args__ = std_table_args(
        "rag_chunks",
        CheckConstraint("end_offset >= start_offset", name="offsets_ordered"),
        Index("ix_rag_chunks_novel_chapter", "novel_id", "chapter_index"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    novel_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("novels.id", ondelete="CASCADE"), nullable=False
    )
    chapter_index: Mapped[int] = mapped_column(Integer, nullable=False)
    start_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    end_offset: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    text_sha256: Mapped[str] = mapped_column(Text, nullable=False)


class RagEmbedding(StandardFields, Base):
    __tablename__ = "rag_embeddings"
    __table_args__ = std_table_args(
        "rag_embeddings",
        UniqueConstraint(
            "chunk_id", "embedding_version_id", name="uq_rag_embeddings_chunk_version"
        ),
        Index("ix_rag_embeddings_version", "embedding_version_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    chunk_id: Mapped[str] = mapped_column(
        Text, ForeignKey("rag_chunks.id", ondelete="CASCADE"), nullable=False
    )
    embedding_version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("embedding_versions.id", ondelete="CASCADE"), nullable=False
    )
    vector: Mapped[list[float]] = mapped_column(ARRAY(REAL), nullable=False)


class RagEvalSet(StandardFields, Base):
    __tablename__ = "rag_eval_sets"
    __table_args__ = std_table_args(
        "rag_eval_sets", CheckConstraint("kind IN ('auto', 'manual')", name="kind")
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    novel_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("novels.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    items: Mapped[list[Any]] = mapped_column(
        JSONB, nullable=False, default=list, server_default=text("'[]'::jsonb")
    )


class RagEvalResult(StandardFields, Base):
    __tablename__ = "rag_eval_results"
    __table_args__ = std_table_args(
        "rag_eval_results",
        Index("ix_rag_eval_results_version_created", "embedding_version_id", "created_at"),
        Index("ix_rag_eval_results_eval_set_id", "eval_set_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    eval_set_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("rag_eval_sets.id", ondelete="CASCADE"), nullable=False
    )
    embedding_version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("embedding_versions.id", ondelete="CASCADE"), nullable=False
    )
    k: Mapped[int] = mapped_column(Integer, nullable=False)
    recall_at_k: Mapped[float] = mapped_column(Float, nullable=False)
    mrr: Mapped[float] = mapped_column(Float, nullable=False)
    n_queries: Mapped[int] = mapped_column(Integer, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )


class RagRollbackSuggestion(StandardFields, Base):
    __tablename__ = "rag_rollback_suggestions"
    __table_args__ = std_table_args(
        "rag_rollback_suggestions",
        CheckConstraint("kind IN ('rollback', 'promote')", name="kind"),
        CheckConstraint("status IN ('open', 'accepted', 'dismissed')", name="status"),
        Index("ix_rag_rollback_suggestions_status", "status"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    from_version_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("embedding_versions.id", ondelete="SET NULL")
    )
    to_version_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("embedding_versions.id", ondelete="SET NULL")
    )
    evidence: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
    status: Mapped[str] = mapped_column(
        Text, nullable=False, default="open", server_default=text("'open'")
    )
