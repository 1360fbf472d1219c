"""One owner for the end of a run: nf's `render_runs` row takes the terminal state of Dagster's run.

Ops record what they know while the run is alive (stage, an NF error that failed a skill or a
gate). When Dagster's run ends - success, failure, cancel, a worker that died, a run-monitoring
timeout - `settle_run` makes nf's row say the same, with an error code, and marks the run's jobs
still `claimed` failed, so they are visible and the next run re-claims them. It is called by:
- the run-status sensors (runs launched by the daemon, the UI, backfills and the gateway);
- `nf_cli.runs.run_novel` right after an in-process run (the main job, tests, benchmarks);
- `run_reconcile_sensor`, which also ends in-process runs whose process was killed (their
  `nf/host` + `nf/pid` tags name a process that no longer exists): Dagster's run monitoring
  cannot see those, because no run launcher owns them.
"""

from __future__ import annotations

import os
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from sqlalchemy import Engine, select, update

from nf_services.database import DatabaseResource
from shared.errors import REGISTRY, NFError
from shared.events import EventEnvelope, emit_many
from shared.models import Base
from shared.models.enums import EventTopic, JobStatus, RunStatus
from shared.retry import call_db
from shared.stages import Stage

T = Base.metadata.tables
TAG_HOST = "nf/host"
TAG_PID = "nf/pid"  # "<pid>-<process start time>": a reused pid is not mistaken for the run's
# NFError's text is "[NF-XXX-000] detail"; Dagster keeps it in the failure's error chain
_CODE = re.compile(r"\[(NF-[A-Z]+-\d{3})\]\s*([^\n]*)")
# Dagster's wording when a run's process went away (code server, run monitoring, our reaper)
_DIED = ("terminated unexpectedly", "execution process", "died", "maximum runtime", "timed out")


def process_token(pid: int | None = None) -> str:
    """This (or `pid`'s) process as `<pid>-<start time in clock ticks>`; pid alone off Linux."""
    pid = pid or os.getpid()
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return f"{pid}-{stat.rsplit(')', 1)[1].split()[19]}"
    except (OSError, IndexError):
        return str(pid)


def local_process_tags() -> dict[str, str]:
    """Tags of a run executed in this process, so a reaper can tell when the process is gone."""
    return {TAG_HOST: socket.gethostname(), TAG_PID: process_token()}


def _alive(token: str) -> bool:
    pid = int(token.split("-", 1)[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return process_token(pid) == token


def failure_of(instance: dg.DagsterInstance, run_id: str) -> NFError:
    """The NF error that failed a Dagster run, from its failure events: the first registered code
    in a step's error chain; a lost database connection (NF-DB-001); a run whose process died or
    timed out without a failed step (NF-ORCH-004); else NF-ORCH-002 with the innermost message."""
    steps = instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    runs = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    errors = [r.dagster_event.step_failure_data.error for r in steps]
    run_message = " ".join(r.dagster_event.message or "" for r in runs)
    errors += [getattr(r.dagster_event.event_specific_data, "error", None) for r in runs]
    deepest = ""  # Dagster's wrappers say little: the innermost message of the first failure
    for i, err in enumerate(errors):
        while err is not None:
            found = _CODE.search(err.message or "")
            if found and found[1] in REGISTRY:
                return NFError(found[1], found[2].strip() or None)
            if err.cls_name in ("OperationalError", "InterfaceError"):
                return NFError("NF-DB-001", f"{err.cls_name}: {err.message.strip()}"[:2000])
            if i == 0 and err.message.strip():
                deepest = err.message.strip().splitlines()[0]
            err = err.cause
    if not steps:
        engine_events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        said = " ".join([run_message, *(e.dagster_event.message or "" for e in engine_events)])
        if any(w in said.lower() for w in _DIED):
            return NFError("NF-ORCH-004", said.strip()[:2000])
    step = f"step {steps[0].step_key}: " if steps and steps[0].step_key else ""
    detail = f"{step}{deepest or run_message.strip() or 'the Dagster run failed'}"
    return NFError("NF-ORCH-002", detail[:2000])


def settle_run(
    engine: Engine,
    dagster_run_id: str,
    status: dg.DagsterRunStatus,
    error: NFError | None = None,
) -> bool:
    """nf's row of the run ends as Dagster's did; returns whether it changed. A failure keeps
    the error an op recorded; otherwise `error` (or NF-ORCH-002) is recorded."""
    runs, jobs = T["render_runs"], T["jobs"]
    now = datetime.now(UTC)

    def write() -> bool:
        with engine.begin() as conn:
            row = conn.execute(
                select(runs).where(runs.c.dagster_run_id == dagster_run_id).with_for_update()
            ).first()
            if row is None:
                return False
            if status == dg.DagsterRunStatus.SUCCESS:
                values = {"status": RunStatus.SUCCEEDED, "stage": Stage.DONE}
                values |= {"error_code": None, "error_message": None}
            elif status == dg.DagsterRunStatus.CANCELED:
                values = {"status": RunStatus.CANCELLED, "stage": Stage.CANCELLED}
                values |= {"error_code": "NF-ORCH-003", "error_message": "the run was cancelled"}
            else:
                err = error or NFError("NF-ORCH-002")
                values = {"status": RunStatus.FAILED, "stage": Stage.FAILED}
                if row.status != RunStatus.FAILED or not row.error_code:
                    values |= {"error_code": err.code, "error_message": err.detail[:2000]}
            changed = row.status != values["status"] or (
                "error_code" in values and row.error_code != values["error_code"]
            )
            if changed:
                conn.execute(
                    update(runs)
                    .where(runs.c.id == row.id)
                    .values(**values, finished_at=row.finished_at or now, updated_at=now)
                )
            code = values.get("error_code") or row.error_code or "NF-ORCH-002"
            stale = conn.execute(
                update(jobs)
                .where(jobs.c.run_id == row.id, jobs.c.status == JobStatus.CLAIMED)
                .values(
                    status=JobStatus.FAILED,
                    error_code=code,
                    error_message="the run ended before this job finished",
                    finished_at=now,
                    updated_at=now,
                )
                .returning(jobs.c.id)
            ).all()
            if changed:
                emit_many(
                    conn,
                    [
                        EventEnvelope(
                            topic=EventTopic.RUN_FINISHED,
                            tenant_id=row.tenant_id,
                            project_id=row.project_id,
                            trace_id=row.trace_id,
                            run_id=row.id,
                            stage=values["stage"],
                            error_code=values.get("error_code", row.error_code),
                            error_message=values.get("error_message", row.error_message),
                            payload={
                                "status": str(values["status"]),
                                "dagster_run_id": dagster_run_id,
                                "abandoned_jobs": len(stale),
                            },
                        )
                    ],
                )
            return changed

    return call_db(write)


def settle_ended(engine: Engine, instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """`settle_run` for a Dagster run that has ended (a no-op while it is still going)."""
    if not run.is_finished:
        return False
    failed = run.status == dg.DagsterRunStatus.FAILURE
    return settle_run(
        engine, run.run_id, run.status, failure_of(instance, run.run_id) if failed else None
    )


def reap_dead_local_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed (in Dagster) the started runs of this host whose in-process executor died."""
    host = socket.gethostname()
    reaped = []
    runs = instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={TAG_HOST: host})
    )
    for run in runs:
        token = run.tags.get(TAG_PID)
        if token and not _alive(token):
            instance.report_run_failed(
                run, f"the process {token} on {host} that executed this run died"
            )
            reaped.append(run.run_id)
    return reaped


def reconcile(engine: Engine, instance: dg.DagsterInstance, limit: int = 500) -> int:
    """Settle nf rows still open whose Dagster run has ended (a missed sensor tick, a run the
    daemon never saw); returns how many rows changed."""
    runs = T["render_runs"]
    with engine.connect() as conn:
        open_ids = conn.execute(
            select(runs.c.dagster_run_id)
            .where(runs.c.status.in_([RunStatus.QUEUED, RunStatus.STARTED]))
            .order_by(runs.c.started_at)
            .limit(limit)
        ).scalars()
        open_ids = [r for r in open_ids if r]
    if not open_ids:
        return 0
    records = instance.get_run_records(filters=dg.RunsFilter(run_ids=open_ids))
    return sum(settle_ended(engine, instance, r.dagster_run) for r in records)


@dg.sensor(
    name="run_reconcile_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Ends in Dagster the in-process runs whose process died, then ends nf's run rows "
    "whose Dagster run has ended (what the run-status sensors missed).",
)
def run_reconcile_sensor(context: dg.SensorEvaluationContext, db: DatabaseResource):
    reaped = reap_dead_local_runs(context.instance)
    settled = reconcile(db.engine(), context.instance)
    if reaped or settled:
        context.log.info(f"reaped {len(reaped)} dead run(s); settled {settled} nf run row(s)")
    return dg.SkipReason(f"reaped {len(reaped)}, settled {settled}")


defs = dg.Definitions(sensors=[run_reconcile_sensor])
