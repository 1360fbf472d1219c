"""Declarative base, naming convention and the standard-field mixins every tenant table uses.

Constraint and index names are fixed here (and spelled out literally in the migrations) so that
autogenerate compares like with like and a runbook can name the object a lock waits on.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ENUM
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}

SLUG_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}$"
TRACE_ID_PATTERN = "^[0-9a-f]{32}$"
# 32 hex chars without pgcrypto: gen_random_uuid() is built into PostgreSQL 13+.
TRACE_ID_SERVER_DEFAULT = "replace((gen_random_uuid())::text, '-'::text, ''::text)"


def new_trace_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def pg_enum(enum_cls: type[StrEnum], name: str) -> ENUM:
    """A PostgreSQL enum column type that stores the enum *values* (not member names)."""
    return ENUM(
        enum_cls,
        name=name,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(
        Uuid, primary_key=True, default=uuid.uuid4, server_default=text("gen_random_uuid()")
    )


def created_at_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def updated_at_column() -> Mapped[datetime]:
    return mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )


class StandardFields:
    """tenant_id, project_id, trace_id, created_at, updated_at: on every tenant table."""

    tenant_id: Mapped[str] = mapped_column(Text, nullable=False)
    project_id: Mapped[str] = mapped_column(Text, nullable=False)
    trace_id: Mapped[str] = mapped_column(
        Text, nullable=False, default=new_trace_id, server_default=text(TRACE_ID_SERVER_DEFAULT)
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = updated_at_column()


class IdempotentMixin:
    """The write-path key; unique per tenant (see `std_table_args(idempotent=True)`)."""

    idempotency_key: Mapped[str | None] = mapped_column(Text)


class FailureMixin:
    """A registered error code (FK to error_codes) and the human-readable detail."""

    error_code: Mapped[str | None] = mapped_column(Text, ForeignKey("error_codes.code"))
    error_message: Mapped[str | None] = mapped_column(Text)


def std_table_args(
    table: str,
    *extra: Any,
    idempotent: bool = False,
    failure: bool = False,
    queue: bool = False,
) -> tuple[Any, ...]:
    """The constraints and indexes every tenant table carries, plus the table's own `extra`.

    - composite FK (tenant_id, project_id) -> projects: a row cannot point at another tenant's
      project;
    - trace_id is 32 lowercase hex;
    - indexes on (tenant_id, project_id) and trace_id; on error_code for failure rows; on
      (status, created_at) for queue tables (claims scan the oldest pending rows);
    - UNIQUE (tenant_id, idempotency_key) on write-path tables.
    """
    args: list[Any] = [
        ForeignKeyConstraint(
            ["tenant_id", "project_id"],
            ["projects.tenant_id", "projects.id"],
            name=f"fk_{table}_project",
        ),
        CheckConstraint(f"trace_id ~ '{TRACE_ID_PATTERN}'", name="trace_id_hex"),
        Index(f"ix_{table}_tenant_project", "tenant_id", "project_id"),
        Index(f"ix_{table}_trace_id", "trace_id"),
    ]
    if idempotent:
        args.append(
            UniqueConstraint("tenant_id", "idempotency_key", name=f"uq_{table}_idempotency")
        )
    if failure:
        args.append(Index(f"ix_{table}_error_code", "error_code"))
    if queue:
        args.append(Index(f"ix_{table}_status_created", "status", "created_at"))
    return (*args, *extra)
