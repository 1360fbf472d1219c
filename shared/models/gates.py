"""Quality-gate outcomes (SKILL_16 content, SKILL_18 media) per run and chapter, in our own
database: the promotion gate and the A/B metrics read pass rates from here rather than from
Dagster's event log, which is keyed by asset and partition, not by skill version or chapter."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, Text, UniqueConstraint, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, StandardFields, std_table_args, uuid_pk

GATES = ("SKILL_16", "SKILL_18")


class GateResultRow(StandardFields, Base):
    __tablename__ = "gate_results"
    __table_args__ = std_table_args(
        "gate_results",
        CheckConstraint("gate IN (" + ", ".join(f"'{g}'" for g in GATES) + ")", name="gate"),
        # One outcome per run, gate and chapter (NULL chapter: the whole run); a re-run of the
        # check overwrites it.
        UniqueConstraint(
            "run_id",
            "gate",
            "chapter_index",
            name="uq_gate_results_run_gate_chapter",
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_gate_results_novel_chapter", "novel_id", "chapter_index"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # render_runs.id; no FK, like events: a gate outcome outlives a pruned run row.
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, nullable=False)
    novel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    chapter_index: Mapped[int | None] = mapped_column(Integer)
    gate: Mapped[str] = mapped_column(Text, nullable=False)
    gate_version: Mapped[str | None] = mapped_column(Text)
    passed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, default=dict, server_default=text("'{}'::jsonb")
    )
