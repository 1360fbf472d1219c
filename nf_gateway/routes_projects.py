"""A project's novels and execution requests: upload, list, submit."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from nf_gateway import offload, schemas, service
from nf_gateway.deps import (
    ConfigDep,
    EngineDep,
    KeyDep,
    PageDep,
    PrincipalDep,
    ProjectPath,
    StoreDep,
    TenantPath,
    TraceDep,
)
from nf_gateway.meta import route
from nf_gateway.paging import link_next
from nf_gateway.principal import Need
from nf_services import admission
from shared.errors import NFError
from shared.slugs import validate_slug

router = APIRouter(prefix="/v1/projects/{tenant}/{project}", tags=["projects"])

# Room for multipart boundaries and small form fields around the file itself.
MULTIPART_SLACK = 64 * 1024

_UPLOAD_META = route(
    role="editor",
    errors=(
        "NF-AUTH-004",
        "NF-TENANCY-001",
        "NF-INPUT-002",
        "NF-INPUT-003",
        "NF-INPUT-004",
        "NF-INPUT-005",
        "NF-INPUT-006",
        "NF-INPUT-009",
        "NF-INPUT-011",
        "NF-INPUT-012",
        "NF-DB-002",
    ),
    studio="Project: upload novel",
    replay_model=schemas.NovelOut,
)
# The body is text (NF-INPUT-002 for binary data, NF-INPUT-004 for an empty one), not any bytes.
# Controls other than TAB, LF, VT, FF, CR make text binary when they are more than 0.1% of it
# (s01_ingest); the schema asks for none at all, which the server always accepts.
_UPLOAD_TEXT = {
    "type": "string",
    "minLength": 1,
    "pattern": "^[^\\x00-\\x08\\x0e-\\x1f\\x7f]*$",
    "description": "Novel text (UTF-8, GB18030, Big5 or UTF-16): no NUL bytes, and control "
    "characters other than TAB, LF, VT, FF, CR in at most 0.1% of it (else 415 NF-INPUT-002).",
}
_UPLOAD_META["openapi_extra"]["requestBody"] = {
    "required": True,
    "description": "The novel as a multipart `file` part (optional `slug`, `title` parts), or "
    "as the raw request body. UTF-8, GB18030, Big5 or UTF-16 text.",
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "additionalProperties": False,
                "properties": {
                    "file": _UPLOAD_TEXT,
                    "slug": {"type": "string", "maxLength": 63, "pattern": schemas.SLUG_PATTERN},
                    "title": {
                        "type": "string",
                        "maxLength": 300,
                        "pattern": schemas.NAME_PATTERN,
                    },
                },
            },
            "encoding": {"file": {"contentType": "text/plain"}},
        },
        # Text, whatever the declared type: a binary file (NUL bytes) is refused (415).
        "text/plain": {"schema": _UPLOAD_TEXT},
        "application/octet-stream": {"schema": _UPLOAD_TEXT},
    },
}


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise admission.too_large(int(declared), limit, "the upload")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:  # a lying or absent Content-Length: stop reading at the limit
            raise NFError(
                "NF-INPUT-003",
                f"the upload is larger than the limit of {admission.human_size(limit)} "
                f"({limit:,} bytes, NF_UPLOAD_MAX_BYTES)",
            )
    return bytes(buf)


async def _multipart(request: Request, body: bytes) -> tuple[bytes, str | None, dict[str, str]]:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except (StarletteHTTPException, ValueError, KeyError) as exc:
        raise NFError("NF-INPUT-001", f"malformed multipart body: {exc}") from None
    try:
        upload = form.get("file")
        if isinstance(upload, str):  # a `file` part without a filename: the text itself
            fields = {k: v for k, v in form.items() if isinstance(v, str) and k != "file"}
            return upload.encode("utf-8"), None, fields
        if not isinstance(upload, UploadFile):
            raise NFError("NF-INPUT-001", "the multipart body needs a `file` part")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return await upload.read(), upload.filename, fields
    finally:
        await form.close()


@router.post(
    "/novels",
    response_model=schemas.NovelOut,
    status_code=201,
    summary="Upload a novel into the project (200 if the same text is there already)",
    **_UPLOAD_META,
)
async def upload_novel(
    tenant: TenantPath,
    project: ProjectPath,
    request: Request,
    response: Response,
    engine: EngineDep,
    store: StoreDep,
    cfg: ConfigDep,
    principal: PrincipalDep,
    trace_id: TraceDep,
    slug: Annotated[
        str | None,
        Query(
            max_length=63,
            description="Novel slug (NF-INPUT-005 if not a slug)",
            json_schema_extra={"pattern": schemas.SLUG_PATTERN},
        ),
    ] = None,
    title: Annotated[
        str | None,
        Query(
            max_length=300,
            description=schemas.NAME_RULE,
            json_schema_extra={"pattern": schemas.NAME_PATTERN},
        ),
    ] = None,
    filename: Annotated[
        str | None,
        Query(
            max_length=300,
            description=schemas.NAME_RULE,
            json_schema_extra={"pattern": schemas.NAME_PATTERN},
        ),
    ] = None,
) -> dict:
    # Refuse a caller without the role before reading a possibly large body.
    validate_slug(tenant, "tenant")
    validate_slug(project, "project")
    principal.check(tenant, project, Need.WRITE)
    limit = cfg.upload_max_bytes
    ctype = request.headers.get("content-type", "").lower()
    if ctype.startswith("multipart/form-data"):
        raw = await _read_capped(request, limit + MULTIPART_SLACK)
        data, filename_part, fields = await _multipart(request, raw)
        slug = fields.get("slug") or slug
        title = fields.get("title") or title
        filename = filename_part or filename
    else:
        data = await _read_capped(request, limit)
    admission.check_size(len(data), limit)  # the rest of the policy runs in service
    out = await run_in_threadpool(
        service.upload_novel,
        engine,
        store,
        principal,
        tenant_id=tenant,
        project_id=project,
        data=data,
        trace_id=trace_id,
        slug=slug,
        title=title,
        filename=filename,
        max_bytes=limit,
        admit=offload.admit,
    )
    response.status_code = 201 if out["created"] else 200
    return out


@router.get(
    "/novels",
    response_model=list[schemas.NovelListItem],
    summary="Novels of the project",
    **route(role="viewer", errors=("NF-TENANCY-001", "NF-INPUT-006"), studio="Project: novel list"),
)
def list_novels(
    tenant: TenantPath,
    project: ProjectPath,
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    page: PageDep,
) -> list:
    rows, nxt = service.list_novels(engine, principal, tenant, project, page.limit, page.cursor)
    link_next(request, response, nxt)
    return rows


@router.get(
    "/novels/{novel}/chapters",
    response_model=list[schemas.ChapterOut],
    summary="A novel's chapters with their newest video and subtitles",
    **route(
        role="viewer",
        errors=("NF-TENANCY-001", "NF-INPUT-005", "NF-INPUT-006", "NF-INPUT-010"),
        studio="Novel page: chapter list and player",
    ),
)
def list_chapters(
    tenant: TenantPath,
    project: ProjectPath,
    novel: str,
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    page: PageDep,
) -> list:
    rows, nxt = service.list_chapters(
        engine, principal, tenant, project, novel, page.limit, page.cursor
    )
    link_next(request, response, nxt)
    return rows


@router.post(
    "/requests",
    response_model=schemas.RequestOut,
    status_code=202,
    summary="Submit a novel for execution (idempotent by Idempotency-Key)",
    **route(
        role="editor",
        errors=(
            "NF-AUTH-004",
            "NF-TENANCY-001",
            "NF-INPUT-005",
            "NF-INPUT-006",
            "NF-INPUT-007",
            "NF-INPUT-008",
            "NF-INPUT-010",
            "NF-TENANCY-004",
        ),
        studio="Novel page: Render button",
        replay_model=schemas.RequestOut,
    ),
)
def submit(
    tenant: TenantPath,
    project: ProjectPath,
    body: schemas.SubmitIn,
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    trace_id: TraceDep,
    key: KeyDep,
) -> dict:
    if principal.can(tenant, project, Need.WRITE):  # the quota counts permitted submits only
        request.app.state.tenant_quota.take(tenant)
    done = service.submit_request(
        engine,
        principal,
        tenant_id=tenant,
        project_id=project,
        novel=body.novel,
        idempotency_key=key,
        trace_id=trace_id,
        params=body.params,
    )
    if not done.created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return done.request


@router.get(
    "/requests",
    response_model=list[schemas.RequestOut],
    summary="Execution requests of the project, newest first (cursor-paginated)",
    **route(
        role="viewer", errors=("NF-TENANCY-001", "NF-INPUT-006"), studio="Project: request history"
    ),
)
def list_requests(
    tenant: TenantPath,
    project: ProjectPath,
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            max_length=512,
            pattern="^[A-Za-z0-9_-]+$",
            description="X-Next-Cursor of the previous page",
        ),
    ] = None,
) -> list:
    rows, nxt = service.list_requests(engine, principal, tenant, project, limit, cursor)
    link_next(request, response, nxt)
    return rows
