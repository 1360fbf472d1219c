"""Run-status sensors write each run's outcome back to its execution request."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from sqlalchemy import insert, select

from nf_assets import intake
from nf_assets.runtime import TAG_REQUEST
from nf_services.database import DatabaseResource
from shared.models import Base

pytestmark = pytest.mark.pg

T = Base.metadata.tables


@dg.op(config_schema={"fail": bool})
def _work(context) -> None:
    if context.op_config["fail"]:
        raise RuntimeError("boom")


@dg.job
def stand_in_job():
    _work()


def run_job(instance, request_id, fail: bool):
    result = stand_in_job.execute_in_process(
        run_config={"ops": {"_work": {"config": {"fail": fail}}}},
        instance=instance,
        tags={TAG_REQUEST: str(request_id)},
        raise_on_error=False,
    )
    return instance.get_run_by_id(result.run_id)


def fire(sensor, instance, run, event_type, url) -> None:
    [record] = instance.get_records_for_run(run.run_id, of_type=event_type).records
    ctx = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_event=record.event_log_entry.dagster_event,
        dagster_instance=instance,
        dagster_run=run,
        resources={"db": DatabaseResource(url=url)},
    )
    if event_type == dg.DagsterEventType.RUN_FAILURE:
        ctx = ctx.for_run_failure()
    sensor(ctx)


def request_row(engine, rid):
    req = T["execution_requests"]
    with engine.connect() as conn:
        return conn.execute(select(req).where(req.c.id == rid)).one()


def claimed_request(engine, submit, cast, instance, migrated_db_url):
    rid = submit(cast.a, cast.project, "tale")
    intake.evaluate_intake(engine, instance, None)
    return rid


def test_start_then_success(intake_engine, migrated_db_url, cast, instance, submit):
    rid = claimed_request(intake_engine, submit, cast, instance, migrated_db_url)
    run = run_job(instance, rid, fail=False)
    fire(
        intake.request_started_sensor, instance, run, dg.DagsterEventType.RUN_START, migrated_db_url
    )
    row = request_row(intake_engine, rid)
    assert (row.status, row.dagster_run_id) == ("running", run.run_id)

    fire(
        intake.request_succeeded_sensor,
        instance,
        run,
        dg.DagsterEventType.RUN_SUCCESS,
        migrated_db_url,
    )
    row = request_row(intake_engine, rid)
    assert (row.status, row.stage, row.error_code) == ("succeeded", "done", None)
    assert row.finished_at is not None
    # A late "started" does not reopen it; a late failure does not overwrite the success.
    assert not intake.write_back(
        intake_engine, request_id=str(rid), dagster_run_id=run.run_id, outcome="started"
    )
    assert not intake.write_back(
        intake_engine, request_id=str(rid), dagster_run_id=run.run_id, outcome="failed"
    )
    assert request_row(intake_engine, rid).status == "succeeded"


def test_failure_takes_the_code_the_pipeline_recorded(
    intake_engine, migrated_db_url, cast, instance, submit
):
    rid = claimed_request(intake_engine, submit, cast, instance, migrated_db_url)
    run = run_job(instance, rid, fail=True)
    with intake_engine.begin() as conn:
        conn.execute(
            insert(T["render_runs"]).values(
                id=uuid.uuid4(),
                tenant_id=cast.a,
                project_id=cast.project,
                request_id=rid,
                dagster_run_id=run.run_id,
                idempotency_key=f"dagster:{run.run_id}",
                status="failed",
                stage="failed",
                error_code="NF-MEDIA-001",
                error_message="ffmpeg exited 1",
            )
        )
    fire(
        intake.request_failed_sensor,
        instance,
        run,
        dg.DagsterEventType.RUN_FAILURE,
        migrated_db_url,
    )
    row = request_row(intake_engine, rid)
    assert (row.status, row.stage, row.error_code) == ("failed", "failed", "NF-MEDIA-001")
    assert row.error_message == "ffmpeg exited 1"


def test_failure_without_a_recorded_run_is_an_orchestration_failure(
    intake_engine, migrated_db_url, cast, instance, submit
):
    rid = claimed_request(intake_engine, submit, cast, instance, migrated_db_url)
    run = run_job(instance, rid, fail=True)
    fire(
        intake.request_failed_sensor,
        instance,
        run,
        dg.DagsterEventType.RUN_FAILURE,
        migrated_db_url,
    )
    row = request_row(intake_engine, rid)
    assert (row.status, row.error_code) == ("failed", "NF-ORCH-002")
    assert row.error_message


def test_a_successful_re_execution_repairs_a_failure(
    intake_engine, migrated_db_url, cast, instance, submit
):
    rid = claimed_request(intake_engine, submit, cast, instance, migrated_db_url)
    failed = run_job(instance, rid, fail=True)
    fire(
        intake.request_failed_sensor,
        instance,
        failed,
        dg.DagsterEventType.RUN_FAILURE,
        migrated_db_url,
    )
    retried = run_job(instance, rid, fail=False)
    fire(
        intake.request_succeeded_sensor,
        instance,
        retried,
        dg.DagsterEventType.RUN_SUCCESS,
        migrated_db_url,
    )
    row = request_row(intake_engine, rid)
    assert (row.status, row.error_code, row.dagster_run_id) == ("succeeded", None, retried.run_id)


def test_dagster_success_ends_nf_run_row_and_request_succeeded(
    intake_engine, migrated_db_url, cast, instance, submit
):
    """Dagster's terminal state is the truth: an nf row an op marked failed (a step that was then
    retried and passed) ends succeeded with the run, and so does its request."""
    rid = claimed_request(intake_engine, submit, cast, instance, migrated_db_url)
    run = run_job(instance, rid, fail=False)
    with intake_engine.begin() as conn:
        conn.execute(
            insert(T["render_runs"]).values(
                id=uuid.uuid4(),
                tenant_id=cast.a,
                project_id=cast.project,
                request_id=rid,
                dagster_run_id=run.run_id,
                idempotency_key=f"dagster:{run.run_id}",
                status="failed",
                stage="failed",
                error_code="NF-GATE-002",
            )
        )
    fire(
        intake.request_succeeded_sensor,
        instance,
        run,
        dg.DagsterEventType.RUN_SUCCESS,
        migrated_db_url,
    )
    row = request_row(intake_engine, rid)
    assert (row.status, row.error_code) == ("succeeded", None)
    with intake_engine.connect() as conn:
        nf_run = conn.execute(
            select(T["render_runs"]).where(T["render_runs"].c.dagster_run_id == run.run_id)
        ).one()
    assert (nf_run.status, nf_run.stage, nf_run.error_code) == ("succeeded", "done", None)


def test_cancellation_and_untagged_runs(intake_engine, migrated_db_url, cast, instance, submit):
    rid = claimed_request(intake_engine, submit, cast, instance, migrated_db_url)
    assert intake.write_back(
        intake_engine, request_id=str(rid), dagster_run_id="r1", outcome="cancelled"
    )
    row = request_row(intake_engine, rid)
    assert (row.status, row.stage, row.error_code) == ("cancelled", "cancelled", "NF-ORCH-003")
    # Runs launched by hand (no nf/request_id) or with a junk tag change nothing.
    assert not intake.write_back(
        intake_engine, request_id=None, dagster_run_id="r2", outcome="succeeded"
    )
    assert not intake.write_back(
        intake_engine, request_id="junk", dagster_run_id="r3", outcome="succeeded"
    )
