"""Drive the migrations from code: `upgrade`, `downgrade`, `current`, `schema_diff`.

Alembic's Config is built programmatically (the repo's alembic.ini is only read for logging), so
these work from any working directory and from an installed package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, pool

from shared.db import normalize_url

# Our own version table: Dagster's storage (which may share the database) uses `alembic_version`.
VERSION_TABLE = "nf_alembic_version"
MIGRATIONS_DIR = Path(__file__).resolve().parent


def resolve_url(url: str | None = None) -> str:
    if url:
        return normalize_url(url)
    from shared.db import database_url

    return database_url()


def make_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["url"] = resolve_url(url)
    cfg.attributes["configure_logger"] = False
    return cfg


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"no revisions under {MIGRATIONS_DIR}")
    return head


def _engine(url: str | None) -> Engine:
    return create_engine(resolve_url(url), poolclass=pool.NullPool)


def current(url: str | None = None) -> str | None:
    """The revision the database is at (None: not under migration control yet)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return ctx.get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str | None = None, rev: str = "head") -> str | None:
    """Upgrade to `rev`; at head, also make `error_codes` equal to the code registry."""
    command.upgrade(make_config(url), rev)
    now = current(url)
    if now == head_revision():
        from shared.db import sync_error_codes

        engine = _engine(url)
        try:
            sync_error_codes(engine)
        finally:
            engine.dispose()
    return now


def downgrade(url: str | None, rev: str) -> str | None:
    command.downgrade(make_config(url), rev)
    return current(url)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate sees only our tables: a shared database also holds Dagster's."""
    if type_ == "table" and reflected and compare_to is None:
        return False
    return True


def schema_diff(url: str | None = None) -> list[Any]:
    """Differences between the models and the database (empty when the database is at head)."""
    import shared.models

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": include_object,
                    "version_table": VERSION_TABLE,
                },
            )
            return list(compare_metadata(ctx, shared.models.Base.metadata))
    finally:
        engine.dispose()
