"""Alembic environment: online only (several revisions read the catalog and build indexes
concurrently, which an offline SQL script cannot do)."""

from __future__ import annotations

import logging.config

from alembic import context
from sqlalchemy import Connection, create_engine, pool

import shared.models
from migrations.runner import VERSION_TABLE, include_object, resolve_url

config = context.config
target_metadata = shared.models.Base.metadata

if config.config_file_name and config.attributes.get("configure_logger", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        compare_server_default=True,
        include_object=include_object,
        # Revisions with autocommit blocks commit mid-way; one transaction per revision keeps
        # every other revision atomic and the version stamp next to its own work.
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = resolve_url(
        config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    )
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("nf migrations run online only: give a database URL, not --sql")
run_migrations_online()
