"""Lock-aware DDL helpers the revisions share.

Everything here runs on a live database: each step takes the weakest lock that does the job,
gives up after `LOCK_TIMEOUT` instead of queueing behind a long transaction (which would block
every later query on the table), and can be re-run after a failure (each helper checks the
catalog first). The helpers marked "autocommit" must be called inside
`op.get_context().autocommit_block()` because they commit between steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

LOCK_TIMEOUT = "5s"
# Online index builds and VALIDATE scans may take long on big tables; they do not block writes.
STATEMENT_TIMEOUT = "30min"


def _scalar(sql: str, **params: object) -> object:
    return op.get_bind().execute(sa.text(sql), params).scalar()


def table_exists(table: str) -> bool:
    return bool(_scalar("SELECT to_regclass(:t) IS NOT NULL", t=f"public.{table}"))


def column_is_nullable(table: str, column: str) -> bool:
    return (
        _scalar(
            "SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = :t AND column_name = :c",
            t=table,
            c=column,
        )
        == "YES"
    )


def constraint_exists(table: str, name: str) -> bool:
    return bool(
        _scalar(
            "SELECT 1 FROM pg_constraint WHERE conname = :n AND conrelid = to_regclass(:t)",
            n=name,
            t=f"public.{table}",
        )
    )


def transactional_timeouts() -> None:
    """Inside a migration transaction: fail fast on locks (SET LOCAL ends with the transaction)."""
    op.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")


@contextmanager
def online_session() -> Iterator[None]:
    """Autocommit block with session timeouts, reset afterwards (the connection is reused)."""
    with op.get_context().autocommit_block():
        op.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        op.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT}'")
        try:
            yield
        finally:
            op.execute("RESET lock_timeout")
            op.execute("RESET statement_timeout")


def create_index_concurrently(
    name: str, table: str, columns: str, *, unique: bool = False, where: str | None = None
) -> None:
    """(autocommit) CREATE INDEX CONCURRENTLY, replacing an INVALID leftover of a failed build."""
    invalid = _scalar(
        "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = :n",
        n=name,
    )
    if invalid:
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    predicate = f" WHERE {where}" if where else ""
    kind = "UNIQUE INDEX" if unique else "INDEX"
    op.execute(f"CREATE {kind} CONCURRENTLY IF NOT EXISTS {name} ON {table} ({columns}){predicate}")


def add_check_validated(table: str, name: str, condition: str) -> None:
    """(autocommit) CHECK added NOT VALID (instant), then validated under a lock that lets
    reads and writes continue."""
    if not constraint_exists(table, name):
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({condition}) NOT VALID")
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def add_fk_validated(table: str, name: str, definition: str) -> None:
    """(autocommit) FOREIGN KEY added NOT VALID, then validated (SHARE UPDATE EXCLUSIVE)."""
    if not constraint_exists(table, name):
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition} NOT VALID")
    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {name}")


def set_not_null_online(table: str, column: str) -> None:
    """(autocommit) SET NOT NULL without a scan under ACCESS EXCLUSIVE: a validated
    `CHECK (col IS NOT NULL)` lets PostgreSQL 12+ skip the scan; the helper check is dropped."""
    if not column_is_nullable(table, column):
        return
    helper = f"ck_{table}_{column}_nn"[:63]
    add_check_validated(table, helper, f"{column} IS NOT NULL")
    op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET NOT NULL")
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {helper}")


def promote_unique_index(table: str, name: str, columns: str) -> None:
    """(autocommit) UNIQUE constraint backed by an index built concurrently beforehand."""
    if constraint_exists(table, name):
        return
    create_index_concurrently(name, table, columns, unique=True)
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE USING INDEX {name}")
