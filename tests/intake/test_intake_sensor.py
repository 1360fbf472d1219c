"""The intake sensor: claims, run requests, cursor, cap, fairness, crash recovery, no doubles."""

from __future__ import annotations

import json
import threading
import uuid

import dagster as dg
import pytest
from sqlalchemy import insert, select

from nf_assets import intake
from nf_assets.runtime import TAG_PROJECT, TAG_REQUEST, TAG_TENANT, TAG_TRACE
from nf_services.database import DatabaseResource
from shared.models import Base

pytestmark = pytest.mark.pg

T = Base.metadata.tables


@dg.op
def _noop() -> None:
    pass


@dg.job
def stand_in_job():
    _noop()


def tick(instance, url, cursor=None) -> dg.SensorResult:
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"db": DatabaseResource(url=url)}
    )
    return intake.intake_sensor(ctx)


def launch(instance, result: dg.SensorResult) -> list[str]:
    """What the daemon does with a tick's result: add partitions, create the runs."""
    for req in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return [
        instance.create_run_for_job(
            stand_in_job, tags=rr.tags, status=dg.DagsterRunStatus.NOT_STARTED
        ).run_id
        for rr in result.run_requests
    ]


def rows(engine, ids):
    req = T["execution_requests"]
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(select(req).where(req.c.id.in_(ids))).all()}


def claimed_events(engine, ids) -> int:
    ev = T["events"]
    with engine.connect() as conn:
        return len(
            conn.execute(
                select(ev.c.id).where(ev.c.topic == "request.claimed", ev.c.request_id.in_(ids))
            ).all()
        )


def test_tick_claims_and_requests_one_run_per_request(
    intake_engine, migrated_db_url, cast, instance, submit
):
    ids = [submit(cast.a, cast.project, "tale"), submit(cast.b, cast.project, "saga")]
    result = tick(instance, migrated_db_url)

    assert sorted(rr.run_key for rr in result.run_requests) == sorted(str(i) for i in ids)
    stored = rows(intake_engine, ids)
    for rr in result.run_requests:
        row = stored[uuid.UUID(rr.run_key)]
        assert rr.job_name == "novel_pipeline"
        assert rr.partition_key == row.partition_key
        assert rr.tags[TAG_TENANT] == row.tenant_id and rr.tags[TAG_PROJECT] == row.project_id
        assert rr.tags[TAG_TRACE] == row.trace_id and rr.tags[TAG_REQUEST] == rr.run_key
        assert (row.status, row.stage) == ("claimed", "queued") and row.claimed_at is not None
    # the tick's novels are added by the sensor in one upsert, before the runs exist
    assert result.dynamic_partitions_requests == []
    novels = set(instance.get_dynamic_partitions("novels"))
    assert {r.partition_key for r in stored.values()} <= novels
    assert json.loads(result.cursor) == {"ticks": 1, "claimed": 2, "relaunched": 0}
    assert claimed_events(intake_engine, ids) == 2


def test_launched_runs_are_recorded_and_never_requested_again(
    intake_engine, migrated_db_url, cast, instance, submit
):
    ids = [submit(cast.a, cast.project, "tale")]
    first = tick(instance, migrated_db_url)
    [run_id] = launch(instance, first)

    second = tick(instance, migrated_db_url, first.cursor)
    assert second.run_requests == []
    assert rows(intake_engine, ids)[ids[0]].dagster_run_id == run_id
    third = tick(instance, migrated_db_url, second.cursor)
    assert third.run_requests == [] and third.dynamic_partitions_requests == []
    assert json.loads(third.cursor)["claimed"] == 1
    assert claimed_events(intake_engine, ids) == 1


def test_a_lost_launch_is_requested_again_with_the_same_run_key(
    intake_engine, migrated_db_url, cast, instance, submit
):
    ids = [submit(cast.a, cast.project, "tale")]
    first = tick(instance, migrated_db_url)  # claimed, but the daemon "crashed": no run
    second = tick(instance, migrated_db_url, first.cursor)

    assert [rr.run_key for rr in second.run_requests] == [rr.run_key for rr in first.run_requests]
    assert json.loads(second.cursor) == {"ticks": 2, "claimed": 1, "relaunched": 1}
    assert claimed_events(intake_engine, ids) == 1  # claimed once, requested twice
    launch(instance, second)
    assert tick(instance, migrated_db_url, second.cursor).run_requests == []


def test_cap_per_tick_and_round_robin_over_tenants(
    intake_engine, migrated_db_url, cast, instance, submit
):
    a_ids = [submit(cast.a, cast.project, f"a{i}") for i in range(6)]
    b_ids = [submit(cast.b, cast.project, f"b{i}") for i in range(2)]

    first = intake.evaluate_intake(intake_engine, instance, None, cap=4)
    got = {uuid.UUID(rr.run_key) for rr in first.run_requests}
    assert len(got) == 4
    assert got & set(b_ids) == set(b_ids), "the newer tenant is not starved by the older burst"
    launch(instance, first)
    second = intake.evaluate_intake(intake_engine, instance, first.cursor, cap=4)
    launch(instance, second)
    got |= {uuid.UUID(rr.run_key) for rr in second.run_requests}
    assert got == set(a_ids) | set(b_ids)
    assert intake.evaluate_intake(intake_engine, instance, second.cursor, cap=4).run_requests == []


def test_concurrent_claims_never_overlap(intake_engine, cast, submit):
    ids = {submit(cast.a, cast.project, f"n{i}") for i in range(24)}
    claimed: list[list[uuid.UUID]] = []
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        mine = []
        while batch := intake.claim_pending(intake_engine, 3):
            mine += [c.id for c in batch]
        claimed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [i for batch in claimed for i in batch]
    assert len(flat) == len(set(flat)) == len(ids) and set(flat) == ids
    assert claimed_events(intake_engine, list(ids)) == len(ids)


def test_a_request_without_a_valid_partition_key_fails_instead_of_blocking(
    intake_engine, migrated_db_url, cast, instance, submit
):
    good = submit(cast.a, cast.project, "tale")
    bad = uuid.uuid4()
    with intake_engine.begin() as conn:
        conn.execute(
            insert(T["execution_requests"]).values(
                id=bad,
                tenant_id=cast.a,
                project_id=cast.project,
                idempotency_key="bad",
                partition_key="not a key",
                status="pending",
                stage="submitted",
            )
        )
    result = tick(instance, migrated_db_url)
    assert [rr.run_key for rr in result.run_requests] == [str(good)]
    row = rows(intake_engine, [bad])[bad]
    assert (row.status, row.stage, row.error_code) == ("failed", "failed", "NF-INPUT-005")


def test_an_empty_queue_skips(migrated_db_url, instance):
    result = tick(instance, migrated_db_url)
    assert result.run_requests == [] and result.skip_reason is not None
