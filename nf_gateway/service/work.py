"""Novels and requests: uploads, chapters, submissions, status and cancellation."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from sqlalchemy import Engine, select, update

from nf_gateway.paging import paginate
from nf_gateway.principal import Need, Principal
from nf_gateway.service.common import (
    authorize_project,
    clean_text,
    parse_uuid,
    require_project,
    utcnow,
)
from nf_services import admission, submissions
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import RequestStatus, RunStatus
from shared.slugs import SLUG_RE, slugify
from shared.storage import ArtifactStore

T = Base.metadata.tables


def upload_novel(
    engine: Engine,
    store: ArtifactStore,
    principal: Principal,
    *,
    tenant_id: str,
    project_id: str,
    data: bytes,
    trace_id: str,
    slug: str | None = None,
    title: str | None = None,
    filename: str | None = None,
    max_bytes: int | None = None,
    admit: Any = None,
) -> dict[str, Any]:
    """Admit (nf_services.admission: size, SKILL_01 decode, SKILL_02 split, chapter checks), store
    the bytes, register the novel. `max_bytes` defaults to Settings.upload_max_bytes.

    Everything that can refuse the upload runs before the first write; the admission's
    warnings come back in `warnings` ({code, message}). `admit`: the admission function (the
    gateway passes nf_gateway.offload.admit, which runs big files in a separate process).
    """
    authorize_project(principal, tenant_id, project_id, Need.WRITE)
    title = clean_text(title, "title", 300)
    stem = None
    if filename:
        stem = re.sub(r"\.[A-Za-z0-9]{1,8}$", "", filename.replace("\\", "/").rsplit("/", 1)[-1])
        stem = clean_text(stem[:300], "file name", 300)
    if slug is None or slug == "":
        slug = slugify((title or stem or "").replace("_", "-"), fallback="")
        if not slug:
            slug = "novel-" + hashlib.sha256(data).hexdigest()[:12]
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise NFError("NF-INPUT-005", f"novel slug {slug!r} is not a valid partition part")
    with submissions.scoped(engine, principal.scope()) as conn:
        require_project(conn, tenant_id, project_id)
    admitted = (admit or admission.admit)(data, max_bytes)
    blob = store.put_bytes(data, "txt")
    with submissions.scoped(engine, principal.scope()) as conn:
        novel = submissions.register_upload(
            conn,
            tenant_id=tenant_id,
            project_id=project_id,
            slug=slug,
            title=title or stem or slug,
            source_sha256=blob.sha256,
            source_path=blob.path,
            trace_id=trace_id,
            language=admitted.language,
            encoding=admitted.encoding,
            char_count=admitted.chars,
            chapter_count=admitted.chapters,
        )
    return {
        "id": novel.id,
        "tenant_id": tenant_id,
        "project_id": project_id,
        "slug": novel.slug,
        "title": novel.title,
        "partition_key": novel.partition_key,
        "sha256": novel.source_sha256,
        "size_bytes": len(data),
        "encoding": admitted.encoding,
        "language": admitted.language,
        "chapters": admitted.chapters,
        "created": novel.created,
        "warnings": [w.to_dict() for w in admitted.warnings],
    }


def list_novels(
    engine: Engine,
    principal: Principal,
    tenant_id: str,
    project_id: str,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list, str | None]:
    authorize_project(principal, tenant_id, project_id, Need.READ)
    novels = T["novels"]
    stmt = select(
        novels.c.id,
        novels.c.slug,
        novels.c.title,
        novels.c.partition_key,
        novels.c.language,
        novels.c.chapter_count,
        novels.c.created_at,
    ).where(novels.c.tenant_id == tenant_id, novels.c.project_id == project_id)
    with submissions.scoped(engine, principal.scope()) as conn:
        require_project(conn, tenant_id, project_id)
        rows, nxt = paginate(conn, stmt, (novels.c.created_at, novels.c.id), limit, cursor)
    return [dict(r._mapping) for r in rows], nxt


CHAPTER_MEDIA = ("mp4", "srt", "vtt")


def list_chapters(
    engine: Engine,
    principal: Principal,
    tenant_id: str,
    project_id: str,
    novel: str,
    limit: int = 500,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A novel's chapters with their newest final media (video, subtitles) for the player."""
    authorize_project(principal, tenant_id, project_id, Need.READ)
    key = str(submissions.novel_partition_key(tenant_id, project_id, novel))
    novels, chapters, arts = T["novels"], T["chapters"], T["artifacts"]
    with submissions.scoped(engine, principal.scope()) as conn:
        require_project(conn, tenant_id, project_id)
        novel_id = conn.execute(select(novels.c.id).where(novels.c.partition_key == key)).scalar()
        if novel_id is None:
            raise NFError("NF-INPUT-010", f"no novel {key}")
        rows, nxt = paginate(
            conn,
            select(chapters.c.id, chapters.c.index, chapters.c.title, chapters.c.char_count).where(
                chapters.c.novel_id == novel_id
            ),
            (chapters.c.index,),
            limit,
            cursor,
        )
        lo, hi = (rows[0].index, rows[-1].index) if rows else (0, -1)
        media = conn.execute(
            select(arts.c.id, arts.c.chapter_index, arts.c.kind, arts.c.mime, arts.c.size_bytes)
            .where(
                arts.c.novel_id == novel_id,
                arts.c.chapter_index.between(lo, hi),
                arts.c.kind.in_(CHAPTER_MEDIA),
            )
            .order_by(arts.c.created_at, arts.c.id)
        ).all()
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for m in media:  # ascending: the last one written wins
        latest[(m.chapter_index, m.kind)] = {
            "id": m.id,
            "kind": m.kind,
            "mime": m.mime,
            "size_bytes": m.size_bytes,
        }
    return [
        {
            **dict(r._mapping),
            "media": [latest[(r.index, k)] for k in CHAPTER_MEDIA if (r.index, k) in latest],
        }
        for r in rows
    ], nxt


def submit_request(
    engine: Engine,
    principal: Principal,
    *,
    tenant_id: str,
    project_id: str,
    novel: str,
    idempotency_key: str | None,
    trace_id: str,
    params: dict[str, Any] | None = None,
) -> submissions.Submitted:
    authorize_project(principal, tenant_id, project_id, Need.WRITE)
    submissions.validate_idempotency_key(idempotency_key)
    with submissions.scoped(engine, principal.scope()) as conn:
        try:
            return submissions.create_execution_request(
                conn,
                tenant_id=tenant_id,
                project_id=project_id,
                novel=novel,
                idempotency_key=idempotency_key,
                trace_id=trace_id,
                params=params,
                requested_by=principal.user_id,
            )
        except NFError as exc:
            if exc.code == "NF-INPUT-010":  # no novel: maybe no project at all
                require_project(conn, tenant_id, project_id)
            raise


def request_status(engine: Engine, principal: Principal, request_id: Any) -> dict[str, Any]:
    """The request, with the live stage of its latest run while it runs."""
    rid = parse_uuid(request_id, "request")
    runs = T["render_runs"]
    with submissions.scoped(engine, principal.scope()) as conn:
        req = submissions.get_request(conn, rid)
        if not principal.can(req["tenant_id"], req["project_id"]):
            raise NFError("NF-INPUT-010", f"no request {rid}")
        run = conn.execute(
            select(
                runs.c.id,
                runs.c.dagster_run_id,
                runs.c.status,
                runs.c.stage,
                runs.c.error_code,
                runs.c.error_message,
                runs.c.started_at,
                runs.c.finished_at,
            )
            .where(runs.c.request_id == rid)
            .order_by(runs.c.created_at.desc(), runs.c.id)
            .limit(1)
        ).first()
    out = dict(req)
    out["run"] = dict(run._mapping) if run else None
    if (
        run is not None
        and out["status"] in ("claimed", "running")
        and run.status == RunStatus.STARTED
    ):
        out["status"], out["stage"] = "running", run.stage
    return out


def list_requests(
    engine: Engine,
    principal: Principal,
    tenant_id: str,
    project_id: str,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, `limit` per page (X-Next-Cursor for the next one)."""
    authorize_project(principal, tenant_id, project_id, Need.READ)
    req = T["execution_requests"]
    with submissions.scoped(engine, principal.scope()) as conn:
        require_project(conn, tenant_id, project_id)
        rows, nxt = paginate(
            conn,
            select(*[req.c[c] for c in submissions.REQUEST_COLUMNS]).where(
                req.c.tenant_id == tenant_id, req.c.project_id == project_id
            ),
            (req.c.created_at, req.c.id),
            limit,
            cursor,
            descending=True,
        )
    return [submissions.request_view(r) for r in rows], nxt


def cancel_request(
    engine: Engine,
    principal: Principal,
    request_id: Any,
    *,
    terminate_run: Any = None,
) -> dict[str, Any]:
    """(editor) Cancel a request. Pending (not yet claimed): marked cancelled (NF-ORCH-003) at
    once, so the intake sensor never launches it. Claimed or running with a Dagster run:
    `terminate_run(dagster_run_id)` asks Dagster to end the run (its run-status sensor then
    settles the request as cancelled); without a Dagster instance the request is marked
    cancelled here. Finished requests are returned unchanged (idempotent)."""
    rid = parse_uuid(request_id, "request")
    req = T["execution_requests"]
    with submissions.scoped(engine, principal.scope()) as conn:
        row = conn.execute(
            select(req.c.tenant_id, req.c.project_id, req.c.status, req.c.dagster_run_id)
            .where(req.c.id == rid)
            .with_for_update()
        ).first()
        if row is None or not principal.can(row.tenant_id, row.project_id):
            raise NFError("NF-INPUT-010", f"no request {rid}")
        principal.check(row.tenant_id, row.project_id, Need.WRITE)
        status = str(getattr(row.status, "value", row.status))
        terminal = ("succeeded", "failed", "cancelled")
        asked_dagster = False
        if status not in terminal:
            if status != "pending" and row.dagster_run_id and terminate_run is not None:
                asked_dagster = bool(terminate_run(row.dagster_run_id))
            if not asked_dagster:
                conn.execute(
                    update(req)
                    .where(req.c.id == rid, req.c.status.notin_(terminal))
                    .values(
                        status=RequestStatus.CANCELLED,
                        error_code="NF-ORCH-003",
                        error_message=f"cancelled by {principal.email}",
                        finished_at=utcnow(),
                        updated_at=utcnow(),
                    )
                )
    out = request_status(engine, principal, rid)
    out["cancel_requested"] = asked_dagster
    return out
