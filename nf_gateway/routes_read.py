"""Reads by id: request status (and its progress as server-sent events), cancelling a request,
traces, artifacts; and feedback on what was produced."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from nf_gateway import schemas, service
from nf_gateway.deps import EngineDep, KeyDep, PrincipalDep, StoreDep, TraceDep
from nf_gateway.meta import route
from shared.errors import NFError
from shared.storage import LocalArtifactStore

router = APIRouter(prefix="/v1", tags=["runs"])


@router.get(
    "/requests/{request_id}",
    response_model=schemas.RequestOut,
    summary="Status and stage of an execution request (live stage of its run while it runs)",
    **route(role="viewer", errors=("NF-INPUT-010",), studio="Novel page: progress bar"),
)
def get_request(request_id: uuid.UUID, engine: EngineDep, principal: PrincipalDep) -> dict:
    return service.request_status(engine, principal, request_id)


@router.post(
    "/requests/{request_id}/cancel",
    response_model=schemas.CancelOut,
    summary="Cancel an execution request (asks Dagster to terminate its run, if any)",
    **route(
        role="editor",
        errors=("NF-AUTH-004", "NF-INPUT-010", "NF-ORCH-001"),
        studio="Novel page: Cancel button",
    ),
)
def cancel_request(
    request_id: uuid.UUID, request: Request, engine: EngineDep, principal: PrincipalDep
) -> dict:
    return service.cancel_request(
        engine, principal, request_id, terminate_run=request.app.state.terminate_run
    )


TERMINAL = ("succeeded", "failed", "cancelled")
SSE_POLL_SECONDS = 1.0
SSE_MAX_SECONDS = 600
_EVENTS = route(role="viewer", errors=("NF-INPUT-010",), studio="Novel page: progress bar")
_EVENTS["responses"][200] = {
    "description": "Server-sent events: `event: status` with the request (as GET "
    "/v1/requests/{id}) whenever its status or stage changes, until it finishes (or 10 min); "
    "`: keep-alive` comments in between.",
    # one server-sent event (fields as the SSE format names them); data is the request's JSON
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "object",
                "properties": {
                    "event": {"type": "string", "enum": ["status"]},
                    "data": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer"},
                },
                "required": ["data"],
            }
        }
    },
}


@router.get(
    "/requests/{request_id}/events",
    response_class=StreamingResponse,
    summary="Follow a request's progress as server-sent events",
    **_EVENTS,
)
async def request_events(
    request_id: uuid.UUID,
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    for_seconds: Annotated[
        int, Query(ge=1, le=SSE_MAX_SECONDS, description="stop following after this long")
    ] = SSE_MAX_SECONDS,
) -> StreamingResponse:
    first = await run_in_threadpool(service.request_status, engine, principal, request_id)

    async def stream() -> AsyncIterator[bytes]:
        current, last, started = first, None, time.monotonic()
        idle = 0.0
        while True:
            view = schemas.RequestOut.model_validate(current).model_dump_json()
            state = (current["status"], current["stage"], str(current.get("run")))
            if state != last:
                yield f"event: status\ndata: {view}\n\n".encode()
                last, idle = state, 0.0
            elif idle >= 15:
                yield b": keep-alive\n\n"
                idle = 0.0
            if current["status"] in TERMINAL or time.monotonic() - started > for_seconds:
                return
            await asyncio.sleep(SSE_POLL_SECONDS)
            idle += SSE_POLL_SECONDS
            if await request.is_disconnected():
                return
            current = await run_in_threadpool(service.request_status, engine, principal, request_id)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/traces/{trace_id}",
    response_model=schemas.TraceOut,
    summary="A trace: requests -> Dagster runs -> jobs -> artifacts, with events and error codes",
    **route(role="viewer", errors=("NF-INPUT-010",), studio="Run inspector"),
)
def get_trace(
    trace_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$")],
    engine: EngineDep,
    principal: PrincipalDep,
) -> dict:
    return service.get_trace(engine, principal, trace_id)


@router.get(
    "/artifacts/{artifact_id}/meta",
    response_model=schemas.ArtifactOut,
    summary="An artifact's metadata",
    **route(role="viewer", errors=("NF-INPUT-010",), studio="Run inspector: artifact panel"),
)
def artifact_meta(artifact_id: uuid.UUID, engine: EngineDep, principal: PrincipalDep) -> dict:
    return service.get_artifact(engine, principal, artifact_id)


_DOWNLOAD = route(
    role="viewer",
    errors=("NF-INPUT-010", "NF-STORAGE-001", "NF-STORAGE-002"),
    studio="Chapter player / download button",
)
_DOWNLOAD["responses"][200] = {
    "description": "The stored bytes with the artifact's own MIME type (video/mp4, text/vtt, "
    "image/png, application/json, ...; application/octet-stream when unknown) and an ETag of "
    "its sha256. Errors are JSON, as on every route.",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
}


@router.get(
    "/artifacts/{artifact_id}",
    response_class=FileResponse,
    summary="Download an artifact (video, audio, panel, subtitles, JSON)",
    **_DOWNLOAD,
)
def download_artifact(
    artifact_id: uuid.UUID, engine: EngineDep, store: StoreDep, principal: PrincipalDep
) -> Response:
    art = service.get_artifact(engine, principal, artifact_id)
    etag = {"ETag": f'"{art["sha256"]}"'} if art["sha256"] else {}
    filename = f"{art['kind']}-{artifact_id}{PurePosixPath(art['path']).suffix}"
    if not isinstance(store, LocalArtifactStore):
        # an object store: streamed chunk by chunk, never the whole object in memory; the size
        # is asked first so a missing object is a 404 before the response starts
        size = store.size_of(art["path"])
        return StreamingResponse(
            store.iter_bytes(art["path"]),
            media_type=art["mime"] or "application/octet-stream",
            headers={
                "Content-Length": str(size),
                "Content-Disposition": f'attachment; filename="{filename}"',
                **etag,
            },
        )
    path = store.resolve(art["path"])
    if not path.is_file():
        raise NFError("NF-STORAGE-002", f"artifact {artifact_id} is missing from storage")
    return FileResponse(
        path,
        media_type=art["mime"] or "application/octet-stream",
        filename=filename,
        headers=etag or None,
    )


@router.post(
    "/feedback",
    response_model=schemas.FeedbackOut,
    status_code=201,
    summary="Rate an artifact or a chapter (idempotent by Idempotency-Key)",
    **route(
        role="editor",
        errors=("NF-AUTH-004", "NF-INPUT-006", "NF-INPUT-007", "NF-INPUT-008", "NF-INPUT-010"),
        studio="Chapter player: rating widget",
        replay_model=schemas.FeedbackOut,
    ),
)
def post_feedback(
    body: schemas.FeedbackIn,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    trace_id: TraceDep,
    key: KeyDep,
) -> dict:
    row, created = service.post_feedback(
        engine,
        principal,
        target_kind=body.target_kind,
        target_id=body.target_id,
        rating=body.rating,
        idempotency_key=key,
        trace_id=trace_id,
        tags=body.tags,
        comment=body.comment,
    )
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return row
