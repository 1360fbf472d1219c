"""Dagster's PostgreSQL storage with pooled connections (dagster.yaml `storage: custom:`).

dagster-postgres opens a new connection for every statement group (NullPool): creating one run
of `novel_pipeline` made ~80 connections, one PostgreSQL backend start each, which was 40% of
the intake sensor's time per run (profiled in bench/bench_intake.py). These classes are the same
storages, same SQL and transactions, on a small QueuePool per storage instead: connections are
reused by the daemon's threads, the code server and each run worker. A connection idle for a
few seconds is checked before use, so a PostgreSQL restart costs a reconnect, not a failed
statement. A new run's planned events are written in one transaction (store_event_batch).

Defined here, not in the code location: the daemon, the webserver and every run worker load this
module alone (like nf_assets.run_coordinator), so it imports only dagster and dagster_postgres.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as db
import sqlalchemy.pool as db_pool
from dagster import DagsterEventType, Field, IntSource
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.config import pg_config
from dagster._core.storage.event_log.migration import ASSET_KEY_INDEX_COLS
from dagster._core.storage.event_log.schema import (
    AssetCheckExecutionsTable,
    AssetKeyTable,
    SqlEventLogStorageTable,
)
from dagster._serdes import ConfigurableClassData, serialize_value
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.event_log.event_log import CHANNEL_NAME
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.storage import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DisconnectionError

POOL_SIZE = 8  # connections kept open per storage and process (the daemon's 8 submit threads)
MAX_OVERFLOW = 4  # briefly more, closed when returned: PostgreSQL allows 100 in all
IDLE_PING_SECONDS = 5.0
PLANNED = {
    DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
    DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
}
# Dagster hands a new run's planned events to store_event_batch only when this is > 0 (read at
# each event); the flush size is an upper bound, a batch also ends at its last event.
EVENT_BATCH_SIZE = "1000"


def pool_config() -> dict[str, Any]:
    return {
        **pg_config(),
        "pool_size": Field(IntSource, is_required=False, default_value=POOL_SIZE),
        "max_overflow": Field(IntSource, is_required=False, default_value=MAX_OVERFLOW),
    }


def _pooled(storage: Any, pool_size: int, max_overflow: int) -> None:
    """Swap a dagster-postgres storage's NullPool engine for a pooled one (tables exist by now:
    the storage's own constructor created them on its first engine)."""
    old = storage._engine
    storage._engine = create_pg_engine(
        storage.postgres_url,
        getattr(storage, "_token_provider", None),
        isolation_level="AUTOCOMMIT",
        poolclass=db_pool.QueuePool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=3600,
    )
    _ping_when_idle(storage._engine)
    old.dispose()


def _ping_when_idle(engine: Any) -> None:
    """Check a pooled connection before use when it sat idle for IDLE_PING_SECONDS: after a
    PostgreSQL restart the next use reconnects instead of failing. Not on every checkout
    (`pool_pre_ping`): that was a fifth of the daemon's time creating runs."""

    @sa_event.listens_for(engine, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info["returned"] = time.monotonic()

    dialect = engine.dialect  # not the engine: no reference cycle keeping its pool alive

    @sa_event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get("returned")
        if returned is None or time.monotonic() - returned < IDLE_PING_SECONDS:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and connects again
            raise DisconnectionError("idle connection lost") from exc
        if not alive:
            raise DisconnectionError("idle connection lost")


def _kwargs(config_value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "postgres_url": pg_url_from_config(config_value),
        "should_autocreate_tables": config_value.get("should_autocreate_tables", True),
        "token_provider": get_token_provider_from_config(config_value),
        "pool_size": config_value.get("pool_size", POOL_SIZE),
        "max_overflow": config_value.get("max_overflow", MAX_OVERFLOW),
    }


# Dagster builds and disposes an instance per sensor evaluation in the code server and per run
# in a run worker; dagster-postgres's dispose() leaves the engine to the garbage collector,
# harmless with NullPool, but a pool would keep its connections open until then.


class PooledPostgresRunStorage(PostgresRunStorage):
    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
        pool_size: int = POOL_SIZE,
        max_overflow: int = MAX_OVERFLOW,
    ):
        self._migrated: set[str] = set()  # before super(): its table creation asks these
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        _pooled(self, pool_size, max_overflow)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()  # a disposed instance closes its pooled connections now

    def has_execution_plan_snapshot(self, execution_plan_snapshot_id: str) -> bool:
        # Dagster's reads and unpacks the whole plan (~40 ms for novel_pipeline) per run created
        return self._has_snapshot_id(execution_plan_snapshot_id)

    def _once_true(self, name: str, probe: Any) -> bool:
        """A schema migration's column, once seen, stays: ask the catalogue until then only."""
        if name not in self._migrated and probe():
            self._migrated.add(name)
        return name in self._migrated

    # each inspects the catalogue (several queries) and runs several times per run created
    def has_run_stats_index_cols(self) -> bool:
        return self._once_true("run_stats", super().has_run_stats_index_cols)

    def has_backfill_id_column(self) -> bool:
        return self._once_true("backfill_id", super().has_backfill_id_column)

    def has_bulk_actions_selector_cols(self) -> bool:
        return self._once_true("bulk_selector", super().has_bulk_actions_selector_cols)


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
        pool_size: int = POOL_SIZE,
        max_overflow: int = MAX_OVERFLOW,
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        _pooled(self, pool_size, max_overflow)
        self._checks_table = False

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()  # a disposed instance closes its pooled connections now

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        """A new run's planned-asset and planned-check events in one transaction.

        dagster-postgres stores a batch of these one event at a time (insert, NOTIFY, then the
        asset row in a second transaction): ~5 statements and 2 commits per asset of the job.
        Here: one multi-row insert, the asset rows and check rows, one NOTIFY, one commit; all or
        nothing, so Dagster's fallback (storing the events one by one after a failed batch)
        cannot double them. Dagster sorts a batch by asset key, so concurrent runs lock the
        asset rows in the same order. Other batches go to dagster-postgres unchanged."""
        kinds = {e.get_dagster_event().event_type for e in events}
        if not events or not kinds <= PLANNED or len({e.run_id for e in events}) != 1:
            return super().store_event_batch(events)
        with self.index_transaction() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id)
                ).scalars()
            ]
            assets = [(e, i) for e, i in zip(events, ids, strict=True) if e.dagster_event.asset_key]
            if assets:
                self._store_asset_event_tags(conn, [e for e, _ in assets], [i for _, i in assets])
            checks = [
                dict(
                    asset_key=planned.asset_key.to_string(),
                    check_name=planned.check_name,
                    partition=key,
                    run_id=event.run_id,
                    execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
                    evaluation_event=serialize_value(event),
                    evaluation_event_timestamp=self._event_insert_timestamp(event),
                    evaluation_event_storage_id=event_id,
                )
                for event, event_id in zip(events, ids, strict=True)
                if event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED
                for planned in [event.dagster_event.event_specific_data]
                for key in (
                    planned.partitions_subset.get_partition_keys()
                    if planned.partitions_subset
                    else [None]
                )
            ]
            if checks:
                if not self._has_check_table():
                    raise DagsterInvariantViolationError(
                        "Asset checks require a database schema migration."
                    )
                conn.execute(AssetCheckExecutionsTable.insert().values(checks))
            # dagster-postgres NOTIFYs each event for older watchers; delivered at commit
            conn.execute(
                db.text(f"NOTIFY {CHANNEL_NAME}, :notify_id"),
                {"notify_id": f"{events[-1].run_id}_{ids[-1]}"},
            )
            # last: every run created updates these same rows, so their row locks are held
            # from here to the commit only, not while the events are inserted
            if assets:
                self._store_asset_rows(conn, assets)

    def _has_check_table(self) -> bool:
        """`supports_asset_checks` (a catalogue query), asked until it is true."""
        if not self._checks_table:
            self._checks_table = self.supports_asset_checks
        return self._checks_table

    def _store_asset_rows(self, conn: Any, assets: list[tuple[EventLogEntry, int]]) -> None:
        """The asset rows of a batch in one upsert (dagster-postgres: one statement each).
        Same values as dagster-postgres's `_store_asset_event`; the last event per key wins."""
        cols = self.has_secondary_index(ASSET_KEY_INDEX_COLS)
        rows: dict[str, dict[str, Any]] = {}
        for event, event_id in assets:
            key = event.dagster_event.asset_key.to_string()
            rows[key] = {"asset_key": key, **self._get_asset_entry_values(event, event_id, cols)}
        shapes = {tuple(sorted(r)) for r in rows.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) == 1:  # mixed or no values: one by one
            for event, event_id in assets:
                self._store_asset_event(conn, event, event_id)
            return
        query = postgresql.insert(AssetKeyTable).values(list(rows.values()))
        updated = [c for c in next(iter(shapes)) if c != "asset_key"]
        conn.execute(
            query.on_conflict_do_update(
                index_elements=[AssetKeyTable.c.asset_key],
                set_={c: query.excluded[c] for c in updated},
            )
        )


class PooledPostgresScheduleStorage(PostgresScheduleStorage):
    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
        pool_size: int = POOL_SIZE,
        max_overflow: int = MAX_OVERFLOW,
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        _pooled(self, pool_size, max_overflow)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()  # a disposed instance closes its pooled connections now


class PooledPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` whose three storages are the pooled ones above. A run worker
    rebuilds the instance from its ref, i.e. from this class (`storage: custom:`), so it pools
    too."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
        pool_size: int = POOL_SIZE,
        max_overflow: int = MAX_OVERFLOW,
    ):
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        args = (postgres_url, should_autocreate_tables)
        kw = {
            "token_provider": token_provider,
            "pool_size": pool_size,
            "max_overflow": max_overflow,
        }
        self._run_storage = PooledPostgresRunStorage(*args, **kw)
        self._event_log_storage = PooledPostgresEventLogStorage(*args, **kw)
        self._schedule_storage = PooledPostgresScheduleStorage(*args, **kw)
        # every process that opens this instance (daemon, webserver, run workers) batches
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
        super(DagsterPostgresStorage, self).__init__()

    @classmethod
    def config_type(cls) -> Any:
        return pool_config()

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> Any:
        return cls(inst_data=inst_data, **_kwargs(config_value))
