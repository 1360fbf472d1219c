"""Intake: execution requests (written by the gateway and the CLI) become Dagster runs, and the
runs' outcomes flow back into the requests.

`intake_sensor`, each tick:
1. reconciles: requests it claimed earlier whose run is not recorded yet are looked up in the
   instance by their `nf/request_id` tag; found runs are recorded on the request, missing ones
   are requested again (a crash between claiming and launching loses nothing, and `run_key` =
   request id makes Dagster skip a run it already created);
2. claims pending requests, oldest first, round-robin over tenants so one tenant's burst cannot
   fill a tick: `SELECT ... FOR UPDATE SKIP LOCKED` (concurrent ticks never claim the same row),
   status claimed / stage queued, a `request.claimed` event, all in one transaction;
3. adds the novels' dynamic partitions (one upsert for the tick, not a lookup per key), records
   their project versions' observations (one batch), and returns a `SensorResult`: one
   `RunRequest` per request, tags nf/tenant, nf/project,
   nf/trace_id, nf/request_id, and a cursor with running totals.

The tick size follows the queue: a tick takes min(queue depth, Settings.intake_max_runs_per_tick,
default 1,000), so a burst is drained in one tick instead of 50 every 5 s. What a run costs to
create is Dagster's (a run row, its snapshots, one planned event per asset); the instance's
storage (nf_assets.pg_storage) and the sensor daemon's submit threads (dagster.yaml) make that
cheap enough for 1,000 runs in well under a minute (bench/bench_intake.py). A tick that dies
midway loses nothing: Dagster resumes the tick's reserved run requests, this sensor re-requests
claimed requests that have no run, and `run_key` = request id never lets a request run twice.

The run-status sensors end nf's run row as Dagster ended the run (nf_assets.lifecycle), then write
each run's outcome to its request: running when it starts;
succeeded/done, failed/failed with the error_code of the run's render_runs row (NF-ORCH-002 when
the pipeline never recorded one), or cancelled (NF-ORCH-003).
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dagster as dg
from sqlalchemy import Engine, column, select, update, values

from nf_assets.lifecycle import settle_ended
from nf_assets.partitions import novels_partitions
from nf_assets.runtime import TAG_REQUEST, run_tags
from nf_assets.versions import report_observations, version_observations
from nf_services.database import DatabaseResource
from shared.config import get_settings
from shared.errors import NFError
from shared.events import EventEnvelope, emit_many
from shared.models import Base
from shared.models.enums import EventTopic, RequestStatus, RunStatus
from shared.slugs import PartitionKey
from shared.stages import Stage

T = Base.metadata.tables
JOB_NAME = "novel_pipeline"
# Rows locked per tick to choose from, so the round-robin can reach past one tenant's burst.
LOOKAHEAD = 4
TERMINAL = (RequestStatus.SUCCEEDED, RequestStatus.FAILED, RequestStatus.CANCELLED)


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    tenant_id: str
    project_id: str
    trace_id: str
    partition_key: str


def _now() -> datetime:
    return datetime.now(UTC)


def _fair(rows: list[Any], cap: int) -> list[Any]:
    """Up to `cap` rows, taking each tenant's oldest in turn."""
    queues: OrderedDict[str, list[Any]] = OrderedDict()
    for r in rows:
        queues.setdefault(r.tenant_id, []).append(r)
    out: list[Any] = []
    while len(out) < cap and queues:
        for tenant in list(queues):
            out.append(queues[tenant].pop(0))
            if not queues[tenant]:
                del queues[tenant]
            if len(out) == cap:
                break
    return out


def claim_pending(engine: Engine, cap: int) -> list[Claimed]:
    """Claim up to `cap` pending requests in one transaction (safe under concurrent ticks).

    A request whose partition key is unusable fails here (NF-INPUT-005) instead of blocking
    the queue.
    """
    if cap <= 0:
        return []
    req = T["execution_requests"]
    now = _now()
    with engine.begin() as conn:
        candidates = conn.execute(
            select(req.c.id, req.c.tenant_id, req.c.partition_key)
            .where(req.c.status == RequestStatus.PENDING)
            .order_by(req.c.created_at, req.c.id)
            .limit(cap * LOOKAHEAD)
            .with_for_update(skip_locked=True)
        ).all()
        chosen = _fair(candidates, cap)
        bad = []
        for r in chosen:
            try:
                PartitionKey.parse(r.partition_key or "")
            except NFError:
                bad.append(r.id)
        if bad:
            conn.execute(
                update(req)
                .where(req.c.id.in_(bad))
                .values(
                    status=RequestStatus.FAILED,
                    stage=Stage.FAILED,
                    error_code="NF-INPUT-005",
                    error_message="the request has no valid partition key",
                    finished_at=now,
                    updated_at=now,
                )
            )
        good = [r.id for r in chosen if r.id not in bad]
        if not good:
            return []
        rows = conn.execute(
            update(req)
            .where(req.c.id.in_(good), req.c.status == RequestStatus.PENDING)
            .values(
                status=RequestStatus.CLAIMED, stage=Stage.QUEUED, claimed_at=now, updated_at=now
            )
            .returning(
                req.c.id,
                req.c.tenant_id,
                req.c.project_id,
                req.c.trace_id,
                req.c.partition_key,
                req.c.created_at,
            )
        ).all()
        rows = sorted(rows, key=lambda r: (r.created_at, str(r.id)))
        emit_many(
            conn,
            [
                EventEnvelope(
                    topic=EventTopic.REQUEST_CLAIMED,
                    tenant_id=r.tenant_id,
                    project_id=r.project_id,
                    trace_id=r.trace_id,
                    stage=Stage.QUEUED,
                    request_id=r.id,
                    payload={"partition_key": r.partition_key},
                )
                for r in rows
            ],
        )
    return [Claimed(r.id, r.tenant_id, r.project_id, r.trace_id, r.partition_key) for r in rows]


def unlaunched(engine: Engine, limit: int) -> list[Claimed]:
    """Claimed requests with no Dagster run recorded yet, oldest first."""
    req = T["execution_requests"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(req.c.id, req.c.tenant_id, req.c.project_id, req.c.trace_id, req.c.partition_key)
            .where(req.c.status == RequestStatus.CLAIMED, req.c.dagster_run_id.is_(None))
            .order_by(req.c.claimed_at, req.c.id)
            .limit(limit)
        ).all()
    return [Claimed(*r) for r in rows]


def record_run_ids(engine: Engine, run_ids: dict[str, str]) -> None:
    """request id -> Dagster run id, for requests that do not have one yet (one statement)."""
    if not run_ids:
        return
    req = T["execution_requests"]
    found = values(
        column("id", req.c.id.type), column("run_id", req.c.dagster_run_id.type), name="found"
    ).data([(uuid.UUID(k), v) for k, v in run_ids.items()])
    with engine.begin() as conn:
        conn.execute(
            update(req)
            .where(req.c.id == found.c.id, req.c.dagster_run_id.is_(None))
            .values(dagster_run_id=found.c.run_id, updated_at=_now())
        )


def run_request(c: Claimed) -> dg.RunRequest:
    key = PartitionKey.parse(c.partition_key)
    return dg.RunRequest(
        run_key=str(c.id),
        partition_key=str(key),
        job_name=JOB_NAME,
        tags=run_tags(key, c.trace_id, str(c.id)),
    )


def _launched_runs(instance: dg.DagsterInstance, request_ids: list[str]) -> dict[str, str]:
    if not request_ids:
        return {}
    runs = instance.get_runs(filters=dg.RunsFilter(tags={TAG_REQUEST: request_ids}))
    found: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: r.run_id):
        found.setdefault(run.tags[TAG_REQUEST], run.run_id)
    return found


def _cursor(raw: str | None) -> dict[str, int]:
    try:
        data = json.loads(raw) if raw else {}
        return {k: int(data.get(k, 0)) for k in ("ticks", "claimed", "relaunched")}
    except (ValueError, TypeError, AttributeError):
        return {"ticks": 0, "claimed": 0, "relaunched": 0}


def evaluate_intake(
    engine: Engine, instance: dg.DagsterInstance, cursor: str | None, cap: int | None = None
) -> dg.SensorResult:
    """One tick of the intake sensor (separate from the decorator so tests can drive it).
    `cap`: the most requests this tick; default Settings.intake_max_runs_per_tick."""
    cap = get_settings().intake_max_runs_per_tick if cap is None else cap
    state = _cursor(cursor)
    stale = unlaunched(engine, cap)
    launched = _launched_runs(instance, [str(c.id) for c in stale])
    record_run_ids(engine, launched)
    relaunch = [c for c in stale if str(c.id) not in launched]
    claimed = claim_pending(engine, cap - len(relaunch))
    todo = relaunch + claimed
    state["ticks"] += 1
    state["claimed"] += len(claimed)
    state["relaunched"] += len(relaunch)
    keys = sorted({c.partition_key for c in todo})
    # One upsert (ON CONFLICT DO NOTHING) for the tick's novels. Returned as a
    # dynamic_partitions_request instead, the daemon would look each key up first: one query
    # per run. Adding before the runs exist is safe: a partition without a run is just listed.
    if keys:
        instance.add_dynamic_partitions(novels_partitions.name, keys)
    # Each novel's project versions observed before its run, so the run is in sync with them:
    # written here in one batch (as SensorResult.asset_events the daemon writes them one by one).
    report_observations(instance, version_observations(engine, instance, keys))
    return dg.SensorResult(
        run_requests=[run_request(c) for c in todo],
        cursor=json.dumps(state, sort_keys=True),
        skip_reason=None if todo else "no pending execution requests",
    )


@dg.sensor(
    name="intake_sensor",
    job_name=JOB_NAME,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Claims pending execution requests (FOR UPDATE SKIP LOCKED) and launches one "
    "novel_pipeline run per request (run_key = request id).",
)
def intake_sensor(context: dg.SensorEvaluationContext, db: DatabaseResource) -> dg.SensorResult:
    return evaluate_intake(db.engine(), context.instance, context.cursor)


# -- outcomes -------------------------------------------------------------------------------
def write_back(
    engine: Engine,
    *,
    request_id: str | None,
    dagster_run_id: str,
    outcome: str,
    message: str | None = None,
) -> bool:
    """Record a run's outcome on its request; returns whether the request changed.

    outcome: started | succeeded | failed | cancelled. Transitions never go backwards: a late
    "started" does not undo an ending, a failure does not overwrite a success, but a success
    (e.g. a re-execution from the Dagster UI) does repair an earlier failure.
    """
    if not request_id:
        return False
    try:
        rid = uuid.UUID(request_id)
    except ValueError:
        return False
    req, runs = T["execution_requests"], T["render_runs"]
    now = _now()
    with engine.begin() as conn:
        run = conn.execute(
            select(runs.c.status, runs.c.error_code, runs.c.error_message).where(
                runs.c.dagster_run_id == dagster_run_id
            )
        ).first()
        values: dict[str, Any] = {"dagster_run_id": dagster_run_id, "updated_at": now}
        if outcome == "started":
            allowed = (RequestStatus.PENDING, RequestStatus.CLAIMED)
            values |= {"status": RequestStatus.RUNNING}
        elif outcome == "succeeded" and not (run and run.status == RunStatus.FAILED):
            allowed = (
                RequestStatus.PENDING,
                RequestStatus.CLAIMED,
                RequestStatus.RUNNING,
                RequestStatus.FAILED,
            )
            values |= {
                "status": RequestStatus.SUCCEEDED,
                "stage": Stage.DONE,
                "error_code": None,
                "error_message": None,
                "finished_at": now,
            }
        elif outcome in ("failed", "succeeded"):
            allowed = (RequestStatus.PENDING, RequestStatus.CLAIMED, RequestStatus.RUNNING)
            code = (run.error_code if run and run.error_code else None) or "NF-ORCH-002"
            detail = (run.error_message if run and run.error_message else None) or message
            values |= {
                "status": RequestStatus.FAILED,
                "stage": Stage.FAILED,
                "error_code": code,
                "error_message": (detail or "the Dagster run failed")[:2000],
                "finished_at": now,
            }
        elif outcome == "cancelled":
            allowed = (RequestStatus.PENDING, RequestStatus.CLAIMED, RequestStatus.RUNNING)
            values |= {
                "status": RequestStatus.CANCELLED,
                "stage": Stage.CANCELLED,
                "error_code": "NF-ORCH-003",
                "error_message": message,
                "finished_at": now,
            }
        else:
            raise ValueError(f"unknown outcome {outcome!r}")
        changed = conn.execute(
            update(req)
            .where(req.c.id == rid, req.c.status.in_(allowed))
            .values(**values)
            .returning(req.c.id)
        ).first()
    return changed is not None


def _on_status(outcome: str):
    def handle(context: dg.RunStatusSensorContext, db: DatabaseResource) -> None:
        run = context.dagster_run
        message = None
        if outcome == "failed" and context.dagster_event is not None:
            message = context.dagster_event.message
        # nf's run row ends first: the request takes its error code from it
        settle_ended(db.engine(), context.instance, run)
        changed = write_back(
            db.engine(),
            request_id=run.tags.get(TAG_REQUEST),
            dagster_run_id=run.run_id,
            outcome=outcome,
            message=message,
        )
        if changed:
            context.log.info(f"request {run.tags.get(TAG_REQUEST)} -> {outcome}")

    return handle


request_started_sensor = dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.STARTED,
    name="request_started_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks a run's execution request running.",
)(_on_status("started"))
request_succeeded_sensor = dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="request_succeeded_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks a run's execution request succeeded (stage done).",
)(_on_status("succeeded"))
request_failed_sensor = dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    name="request_failed_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks a run's execution request failed with the run's error_code.",
)(_on_status("failed"))
request_cancelled_sensor = dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.CANCELED,
    name="request_cancelled_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks a run's execution request cancelled (NF-ORCH-003).",
)(_on_status("cancelled"))

defs = dg.Definitions(
    sensors=[
        intake_sensor,
        request_started_sensor,
        request_succeeded_sensor,
        request_failed_sensor,
        request_cancelled_sensor,
    ]
)
