"""Composer: composition batches (chapter videos) and export records (manifests)."""

from __future__ import annotations

import uuid

from sqlalchemy import Float, ForeignKey, Index, Integer, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import (
    Base,
    FailureMixin,
    IdempotentMixin,
    StandardFields,
    std_table_args,
    uuid_pk,
)


class ComposerBatch(StandardFields, IdempotentMixin, FailureMixin, Base):
    __tablename__ = "composer_batches"
    __table_args__ = std_table_args(
        "composer_batches",
        Index("ix_composer_batches_run_id", "run_id"),
        idempotent=True,
        failure=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    novel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(
        Text, nullable=False, default="pending", server_default=text("'pending'")
    )
    chapters: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    total_seconds: Mapped[float | None] = mapped_column(Float)


class ExportRecord(StandardFields, IdempotentMixin, Base):
    __tablename__ = "export_records"
    __table_args__ = std_table_args(
        "export_records",
        Index("ix_export_records_run_id", "run_id"),
        idempotent=True,
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    novel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    batch_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("composer_batches.id", ondelete="SET NULL")
    )
    manifest_path: Mapped[str] = mapped_column(Text, nullable=False)
    chapters: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
    status: Mapped[str] = mapped_column(
        Text, nullable=False, default="written", server_default=text("'written'")
    )
