"""A deep queue through Dagster's own sensor daemon code (`execute_sensor_iteration` over
workspace.yaml, the code location in a gRPC code server) on the PostgreSQL instance of the repo's
dagster.yaml, with the real `novel_pipeline`: one tick claims the whole queue; a tick that dies
after creating half of its runs loses none and doubles none, and the next tick finishes the rest.
Runs are created and queued, never executed (no run-queue daemon here). Counts, not timings."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration
from sqlalchemy import select

from nf_assets.runtime import TAG_REQUEST
from shared.models import Base
from tests.conftest import REPO

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables
QUEUE = 40
DIES_AFTER = QUEUE // 2
SENSOR = "intake_sensor"


def _runs_per_request(instance: dg.DagsterInstance, ids: set[str]) -> Counter:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR}))
    return Counter(r.tags[TAG_REQUEST] for r in runs if r.tags.get(TAG_REQUEST) in ids)


def _intake_ticks(instance: dg.DagsterInstance) -> list:
    [state] = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.name == SENSOR
    ]
    return sorted(
        instance.get_ticks(state.instigator_origin_id, state.selector_id),
        key=lambda t: t.timestamp,
    )


def _tick(ctx, logger) -> None:
    """One pass of the sensor daemon; waits out the intake sensor's minimum interval first."""
    ticks = _intake_ticks(ctx.instance) if ctx.instance.all_instigator_state() else []
    if ticks:
        time.sleep(max(0.0, ticks[-1].timestamp + 5.2 - time.time()))
    list(execute_sensor_iteration(ctx, logger, None, None))


def test_a_deep_queue_drains_in_one_tick_and_a_dying_tick_loses_nothing(
    intake_engine, pg_dagster_instance, cast, submit, monkeypatch
):
    instance = pg_dagster_instance
    ids = {str(submit(cast.a if i % 2 else cast.b, cast.project, f"v{i}")) for i in range(QUEUE)}
    logger = logging.getLogger("test_intake_volume")
    target = WorkspaceFileTarget([str(Path(REPO) / "workspace.yaml")])

    created, lock = [0], threading.Lock()
    real_create = instance.create_run

    def dies_midway(**kwargs):  # the daemon submits runs from several threads
        with lock:
            if created[0] >= DIES_AFTER:
                raise RuntimeError("the daemon dies halfway through the tick")
            created[0] += 1
        return real_create(**kwargs)

    with create_test_daemon_workspace_context(target, instance) as ctx:
        monkeypatch.setattr(instance, "create_run", dies_midway)
        _tick(ctx, logger)
        first = _intake_ticks(instance)
        assert [t.status for t in first] == [TickStatus.FAILURE]
        per = _runs_per_request(instance, ids)
        # it died midway: at most half of the queue's runs (a submit thread still in flight when
        # another one died may not have created its run)
        assert 0 < sum(per.values()) <= DIES_AFTER
        req = T["execution_requests"]
        with intake_engine.connect() as conn:
            statuses = Counter(
                conn.execute(
                    select(req.c.status).where(req.c.id.in_([uuid.UUID(i) for i in ids]))
                ).scalars()
            )
        assert statuses == {"claimed": QUEUE}  # ... after claiming the whole queue in one tick

        monkeypatch.setattr(instance, "create_run", real_create)
        for _ in range(3):
            _tick(ctx, logger)
            if sum(_runs_per_request(instance, ids).values()) >= QUEUE:
                break
        per = _runs_per_request(instance, ids)
        assert set(per) == ids, "a request lost its run"
        assert set(per.values()) == {1}, "a request got two runs"
        assert len(_intake_ticks(instance)) <= 3

        _tick(ctx, logger)  # records the run ids on the requests
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR}))
        assert {r.status for r in runs} == {dg.DagsterRunStatus.QUEUED}
        by_request = {r.tags[TAG_REQUEST]: r.run_id for r in runs}
        with intake_engine.connect() as conn:
            recorded = dict(
                conn.execute(
                    select(req.c.id, req.c.dagster_run_id).where(
                        req.c.id.in_([uuid.UUID(i) for i in ids])
                    )
                ).all()
            )
        assert {str(k): v for k, v in recorded.items()} == by_request
        ev = T["events"]
        with intake_engine.connect() as conn:
            claims = Counter(
                str(r)
                for r in conn.execute(
                    select(ev.c.request_id).where(
                        ev.c.topic == "request.claimed",
                        ev.c.request_id.in_([uuid.UUID(i) for i in ids]),
                    )
                ).scalars()
            )
        assert set(claims) == ids and set(claims.values()) == {1}  # each claimed once
