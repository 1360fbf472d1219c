"""A run's log: nf's `render_runs` row of one Dagster run and the events that tell its story.

The row is created by whichever op of the run comes first (`open_run`, keyed by the Dagster run
id); ops move its stage as they go. How a run ends is decided by nf_assets.lifecycle from
Dagster's own record; an op that knows why it failed records that first (`finish(failed=...)`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.blobs import ArtifactStore
from shared.errors import NFError
from shared.events import EventEnvelope, emit_many
from shared.models import Base
from shared.models.enums import EventTopic, RunStatus
from shared.retry import call_db
from shared.stages import Stage

T = Base.metadata.tables


@dataclass
class RunScope:
    tenant_id: str
    project_id: str
    trace_id: str
    partition_key: str
    novel_id: uuid.UUID | None
    run_id: uuid.UUID


def utcnow() -> datetime:
    return datetime.now(UTC)


class RunLog:
    def __init__(self, engine: Engine, store: ArtifactStore, scope: RunScope) -> None:
        self.engine = engine
        self.store = store
        self.scope = scope

    # runs --------------------------------------------------------------------------------
    @classmethod
    def open_run(
        cls,
        engine: Engine,
        store: ArtifactStore,
        *,
        tenant_id: str,
        project_id: str,
        partition_key: str,
        dagster_run_id: str,
        trace_id: str,
        request_id: uuid.UUID | None = None,
    ) -> RunLog:
        """The render_runs row of this Dagster run, created by whichever op comes first."""
        runs, novels = T["render_runs"], T["novels"]

        def upsert() -> tuple[uuid.UUID | None, uuid.UUID, bool]:
            with engine.begin() as conn:
                novel_id = conn.execute(
                    select(novels.c.id).where(novels.c.partition_key == partition_key)
                ).scalar()
                stmt = (
                    pg_insert(runs)
                    .values(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        project_id=project_id,
                        trace_id=trace_id,
                        idempotency_key=f"dagster:{dagster_run_id}",
                        request_id=request_id,
                        novel_id=novel_id,
                        partition_key=partition_key,
                        dagster_run_id=dagster_run_id,
                        status=RunStatus.STARTED,
                        stage=Stage.INGEST,
                        started_at=utcnow(),
                    )
                    .on_conflict_do_nothing(index_elements=["dagster_run_id"])
                    .returning(runs.c.id)
                )
                run_id = conn.execute(stmt).scalar()
                created = run_id is not None
                if not created:
                    run_id = conn.execute(
                        select(runs.c.id).where(runs.c.dagster_run_id == dagster_run_id)
                    ).scalar_one()
                return novel_id, run_id, created

        novel_id, run_id, created = call_db(upsert)
        rec = cls(
            engine,
            store,
            RunScope(tenant_id, project_id, trace_id, partition_key, novel_id, run_id),
        )
        if created:
            rec._emit(
                [
                    rec._event(
                        EventTopic.RUN_STARTED,
                        stage=Stage.INGEST,
                        payload={"dagster_run_id": dagster_run_id, "partition_key": partition_key},
                    )
                ]
            )
        return rec

    def set_novel(self, novel_id: uuid.UUID) -> None:
        self.scope.novel_id = novel_id
        runs = T["render_runs"]
        self._write(update(runs).where(runs.c.id == self.scope.run_id).values(novel_id=novel_id))

    def set_stage(self, stage: Stage) -> None:
        runs = T["render_runs"]
        changed = self._write(
            update(runs)
            .where(runs.c.id == self.scope.run_id, runs.c.stage != stage)
            .values(stage=stage, updated_at=utcnow())
            .returning(runs.c.id)
        )
        if changed is not None:
            self._emit([self._event(EventTopic.RUN_STAGE_CHANGED, stage=stage)])

    def finish(self, *, failed: NFError | None = None) -> None:
        runs = T["render_runs"]
        values: dict[str, Any] = {"finished_at": utcnow(), "updated_at": utcnow()}
        if failed:
            values |= {
                "status": RunStatus.FAILED,
                "stage": Stage.FAILED,
                "error_code": failed.code,
                "error_message": failed.detail[:2000],
            }
        else:
            values |= {"status": RunStatus.SUCCEEDED, "stage": Stage.DONE}
        self._write(update(runs).where(runs.c.id == self.scope.run_id).values(**values))
        self._emit(
            [
                self._event(
                    EventTopic.RUN_FINISHED,
                    stage=values["stage"],
                    error_code=values.get("error_code"),
                    error_message=values.get("error_message"),
                    payload={"status": str(values["status"])},
                )
            ]
        )

    # events ------------------------------------------------------------------------------
    def _event(self, topic: EventTopic, **fields: Any) -> EventEnvelope:
        return EventEnvelope(
            topic=topic,
            tenant_id=self.scope.tenant_id,
            project_id=self.scope.project_id,
            trace_id=self.scope.trace_id,
            run_id=self.scope.run_id,
            **fields,
        )

    def _emit(self, events: list[EventEnvelope]) -> None:
        def write() -> None:
            with self.engine.begin() as conn:
                emit_many(conn, events)

        call_db(write)

    def _write(self, stmt: Any) -> Any:
        """One statement in its own transaction, retried on transient errors; its first value."""

        def write() -> Any:
            with self.engine.begin() as conn:
                result = conn.execute(stmt)
                return result.scalar() if result.returns_rows else None

        return call_db(write)
