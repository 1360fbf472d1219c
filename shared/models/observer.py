"""Observer aggregates: failures and cost per tenant/project/day, by error code, skill and
provider. skill_id/provider NULL means "not attributable"; the keys treat NULLs as equal so an
upsert on the key works."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base, StandardFields, std_table_args, uuid_pk


class ObserverErrorDaily(StandardFields, Base):
    __tablename__ = "observer_error_daily"
    __table_args__ = std_table_args(
        "observer_error_daily",
        UniqueConstraint(
            "tenant_id",
            "project_id",
            "day",
            "error_code",
            "skill_id",
            "provider",
            name="uq_observer_error_daily_key",
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_observer_error_daily_error_code", "error_code"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    day: Mapped[date] = mapped_column(Date, nullable=False)
    error_code: Mapped[str] = mapped_column(Text, ForeignKey("error_codes.code"), nullable=False)
    skill_id: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(Text)
    failures: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )


class ObserverCostDaily(StandardFields, Base):
    __tablename__ = "observer_cost_daily"
    __table_args__ = std_table_args(
        "observer_cost_daily",
        UniqueConstraint(
            "tenant_id",
            "project_id",
            "day",
            "skill_id",
            "provider",
            name="uq_observer_cost_daily_key",
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    day: Mapped[date] = mapped_column(Date, nullable=False)
    skill_id: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str | None] = mapped_column(Text)
    calls: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    units: Mapped[float] = mapped_column(Float, nullable=False, default=0, server_default=text("0"))
    cost_usd: Mapped[Decimal] = mapped_column(
        Numeric(12, 6), nullable=False, default=Decimal(0), server_default=text("0")
    )
    chapters: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default=text("0")
    )
