"""Traces and artifacts: one trace's runs, jobs, events and files; artifact downloads."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection, Engine, or_, select

from nf_gateway.principal import Principal
from nf_gateway.service.common import parse_uuid
from nf_services import submissions
from shared.errors import NFError
from shared.models import Base

T = Base.metadata.tables


_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
RUN_COLS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "request_id",
    "dagster_run_id",
    "partition_key",
    "status",
    "stage",
    "retries",
    "error_code",
    "error_message",
    "started_at",
    "finished_at",
)
JOB_COLS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "run_id",
    "chapter_index",
    "skill_id",
    "skill_version",
    "status",
    "stage",
    "attempt",
    "provider",
    "output_artifact_id",
    "error_code",
    "error_message",
    "duration_ms",
    "started_at",
    "finished_at",
)
ART_COLS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "job_id",
    "novel_id",
    "chapter_index",
    "kind",
    "mime",
    "sha256",
    "size_bytes",
    "skill_id",
    "skill_version",
    "created_at",
)
EVENT_COLS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "topic",
    "stage",
    "request_id",
    "run_id",
    "job_id",
    "error_code",
    "error_message",
    "payload",
    "created_at",
)


def _rows(conn: Connection, table: str, cols: tuple[str, ...], *where: Any, order=None) -> list:
    t = T[table]
    stmt = select(*[t.c[c] for c in cols]).where(*where)
    if order is not None:
        stmt = stmt.order_by(*order(t))
    return [dict(r._mapping) for r in conn.execute(stmt).all()]


def get_trace(
    engine: Engine, principal: Principal, trace_id: str, max_events: int = 5000
) -> dict[str, Any]:
    """Everything one trace touched: requests -> runs -> jobs -> artifacts, events at each
    level; each row with its error_code. Rows the caller may not read are left out."""
    if not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
        raise NFError("NF-INPUT-001", "a trace id is 32 lowercase hex characters")
    R, J, A, E = T["render_runs"], T["jobs"], T["artifacts"], T["events"]
    with submissions.scoped(
        engine,
        principal.scope(),
    ) as conn:
        requests = _rows(
            conn,
            "execution_requests",
            submissions.REQUEST_COLUMNS,
            T["execution_requests"].c.trace_id == trace_id,
            order=lambda t: (t.c.created_at, t.c.id),
        )
        for r in requests:
            r["idempotency_key"] = submissions.public_key(r["idempotency_key"])
            r["params"] = submissions.readable_json(r["params"], "params")
        req_ids = [r["id"] for r in requests]
        runs = _rows(
            conn,
            "render_runs",
            RUN_COLS,
            or_(R.c.trace_id == trace_id, R.c.request_id.in_(req_ids)),
            order=lambda t: (t.c.created_at, t.c.id),
        )
        run_ids = [r["id"] for r in runs]
        jobs = _rows(
            conn,
            "jobs",
            JOB_COLS,
            or_(J.c.trace_id == trace_id, J.c.run_id.in_(run_ids)),
            order=lambda t: (t.c.created_at, t.c.id),
        )
        job_ids = [j["id"] for j in jobs]
        out_ids = [j["output_artifact_id"] for j in jobs if j["output_artifact_id"]]
        artifacts = _rows(
            conn,
            "artifacts",
            ART_COLS,
            or_(A.c.trace_id == trace_id, A.c.job_id.in_(job_ids), A.c.id.in_(out_ids)),
            order=lambda t: (t.c.created_at, t.c.id),
        )
        events = _rows(
            conn,
            "events",
            EVENT_COLS,
            or_(E.c.trace_id == trace_id, E.c.request_id.in_(req_ids), E.c.run_id.in_(run_ids)),
            order=lambda t: (t.c.id,),
        )[:max_events]
        for e in events:
            e["payload"] = submissions.readable_json(e["payload"], "payload")

    def ok(row: dict) -> bool:
        return principal.can(row["tenant_id"], row["project_id"])

    requests, runs, jobs = (
        [r for r in requests if ok(r)],
        [r for r in runs if ok(r)],
        [j for j in jobs if ok(j)],
    )
    artifacts, events = [a for a in artifacts if ok(a)], [e for e in events if ok(e)]
    if not (requests or runs or jobs or artifacts or events):
        raise NFError("NF-INPUT-010", f"no trace {trace_id} that you can read")

    arts_by_job: dict[Any, list] = defaultdict(list)
    by_id = {a["id"]: a for a in artifacts}
    for a in artifacts:
        if a["job_id"] is not None:
            arts_by_job[a["job_id"]].append(a)
    ev_by_job, ev_by_run, ev_by_req = defaultdict(list), defaultdict(list), defaultdict(list)
    for e in events:
        if e["job_id"] is not None:
            ev_by_job[e["job_id"]].append(e)
        elif e["run_id"] is not None:
            ev_by_run[e["run_id"]].append(e)
        elif e["request_id"] is not None:
            ev_by_req[e["request_id"]].append(e)
    jobs_by_run: dict[Any, list] = defaultdict(list)
    for j in jobs:
        own = {a["id"]: a for a in arts_by_job.get(j["id"], [])}
        if j["output_artifact_id"] in by_id:
            own.setdefault(j["output_artifact_id"], by_id[j["output_artifact_id"]])
        jobs_by_run[j["run_id"]].append(
            {**j, "artifacts": list(own.values()), "events": ev_by_job.get(j["id"], [])}
        )
    runs_by_req: dict[Any, list] = defaultdict(list)
    for r in runs:
        runs_by_req[r["request_id"]].append(
            {**r, "jobs": jobs_by_run.get(r["id"], []), "events": ev_by_run.get(r["id"], [])}
        )
    known_reqs = {r["id"] for r in requests}
    return {
        "trace_id": trace_id,
        "requests": [
            {**r, "runs": runs_by_req.get(r["id"], []), "events": ev_by_req.get(r["id"], [])}
            for r in requests
        ],
        # Runs of this trace without a visible request (e.g. launched from the Dagster UI).
        "runs": [run for rid, rs in runs_by_req.items() if rid not in known_reqs for run in rs],
        "counts": {
            "requests": len(requests),
            "runs": len(runs),
            "jobs": len(jobs),
            "artifacts": len(artifacts),
            "events": len(events),
            "failed_jobs": sum(1 for j in jobs if j["error_code"]),
        },
    }


def get_artifact(engine: Engine, principal: Principal, artifact_id: Any) -> dict[str, Any]:
    aid = parse_uuid(artifact_id, "artifact")
    A = T["artifacts"]
    with submissions.scoped(engine, principal.scope()) as conn:
        rows = _rows(conn, "artifacts", (*ART_COLS, "path", "meta"), A.c.id == aid)
    if not rows or not principal.can(rows[0]["tenant_id"], rows[0]["project_id"]):
        raise NFError("NF-INPUT-010", f"no artifact {aid}")
    return rows[0]
