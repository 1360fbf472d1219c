"""The write path from outside: novels uploaded into a project and execution requests.

Used by the gateway and the CLI alike, so both apply the same rules:

- every call runs inside the caller's transaction, normally opened with `scoped()`, which drops
  to the non-owner role `nf_app` and names the tenants the caller may see, so PostgreSQL's
  row-level security (migration 0005) filters every statement on top of the gateway's checks;
- a request is idempotent per (tenant, Idempotency-Key): the same key with the same canonical
  body returns the stored request, with a different body it fails with NF-INPUT-008; concurrent
  duplicates meet at the unique index (`INSERT ... ON CONFLICT DO NOTHING`, then read);
- validation happens before the first write, so bad input leaves the database unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.errors import NFError
from shared.events import EventEnvelope, make_event
from shared.models import Base
from shared.models.enums import EventTopic, RequestStatus
from shared.slugs import SLUG_RE, PartitionKey, validate_slug
from shared.stages import Stage

T = Base.metadata.tables

APP_ROLE = "nf_app"
OPERATOR_ROLE = "nf_operator"
TENANT_SETTING = "nf.tenant_id"

# Visible ASCII only: keys travel in headers and logs.
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
MAX_PARAMS_BYTES = 16 * 1024

REQUEST_COLUMNS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "idempotency_key",
    "partition_key",
    "novel_id",
    "status",
    "stage",
    "error_code",
    "error_message",
    "params",
    "dagster_run_id",
    "created_at",
    "claimed_at",
    "finished_at",
)


# -- transaction scope ----------------------------------------------------------------------
def apply_scope(conn: Connection, tenants: Sequence[str] | None) -> None:
    """Make the rest of the current transaction subject to row-level security.

    `tenants` None: the operator role (every tenant). Otherwise the app role sees only rows whose
    tenant_id is in `tenants` (an empty list sees nothing). Both settings end with the
    transaction (SET LOCAL / set_config(..., true)), so a pooled connection carries nothing over.
    """
    if tenants is None:
        role, value = OPERATOR_ROLE, ""
    else:
        for t in tenants:
            validate_slug(t, "tenant")  # slugs have no ',' so the list cannot be forged
        role, value = APP_ROLE, ",".join(tenants)
    # One round trip for both (psycopg2 sends the two statements together).
    conn.execute(
        text(f"SET LOCAL ROLE {role}; SELECT set_config(:k, :v, true)"),
        {"k": TENANT_SETTING, "v": value},
    )


@contextmanager
def scoped(engine: Engine, tenants: Sequence[str] | None) -> Iterator[Connection]:
    """A transaction under `apply_scope` (commits on success, rolls back on error)."""
    with engine.begin() as conn:
        apply_scope(conn, tenants)
        yield conn


# -- validation -----------------------------------------------------------------------------
def validate_idempotency_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise NFError("NF-INPUT-007")
    if not _IDEMPOTENCY_KEY.match(key):
        raise NFError("NF-INPUT-007", "the Idempotency-Key must be 1-200 visible ASCII characters")
    return key


def novel_partition_key(tenant_id: str, project_id: str, novel: str) -> PartitionKey:
    """A novel named by its slug, or by its full partition key within this project."""
    if not isinstance(novel, str) or not novel:
        raise NFError("NF-INPUT-005", "a novel slug or partition key is required")
    if "." in novel:
        key = PartitionKey.parse(novel)
        if (key.tenant_id, key.project_id) != (tenant_id, project_id):
            raise NFError(
                "NF-INPUT-005", f"partition key {novel!r} is not in {tenant_id}.{project_id}"
            )
        return key
    if not SLUG_RE.match(novel):
        raise NFError("NF-INPUT-005", f"novel slug {novel!r} is not a valid partition part")
    return PartitionKey(tenant_id, project_id, novel)


def canonical_params(params: dict[str, Any] | None) -> dict[str, Any]:
    params = params or {}
    if not isinstance(params, dict):
        raise NFError("NF-INPUT-001", "params must be a JSON object")
    try:
        raw = json.dumps(params, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NFError("NF-INPUT-001", f"params are not plain JSON: {exc}") from None
    if "\x00" in raw or "\\u0000" in raw:
        raise NFError("NF-INPUT-001", "params must not contain NUL characters")
    if len(raw.encode()) > MAX_PARAMS_BYTES:
        raise NFError("NF-INPUT-001", f"params exceed {MAX_PARAMS_BYTES} bytes")
    return json.loads(raw)


def request_hash(partition_key: str, params: dict[str, Any]) -> str:
    """sha256 of the canonical body: what a repeated Idempotency-Key must match."""
    body = {"partition_key": partition_key, "params": params}
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


# -- execution requests ---------------------------------------------------------------------
@dataclass(frozen=True)
class Submitted:
    request: dict[str, Any]
    created: bool  # False: an earlier request with this key and body was returned


def _row_dict(row: Any) -> dict[str, Any]:
    return {c: getattr(row, c) for c in REQUEST_COLUMNS}


def _existing(conn: Connection, tenant_id: str, key: str, body_hash: str) -> Submitted | None:
    req = T["execution_requests"]
    row = conn.execute(
        select(*[req.c[c] for c in REQUEST_COLUMNS], req.c.request_hash).where(
            req.c.tenant_id == tenant_id, req.c.idempotency_key == key
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != body_hash:
        raise NFError(
            "NF-INPUT-008",
            f"Idempotency-Key {key!r} was used for request {row.id} with a different body",
        )
    return Submitted(_row_dict(row), created=False)


_REQUEST_VALUES = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "idempotency_key",
    "request_hash",
    "status",
    "stage",
    "params",
    "requested_by",
)


@lru_cache(maxsize=1)
def _submit_statement():
    """INSERT the request from the project's novel (ON CONFLICT DO NOTHING) and its event in a
    CTE over the inserted row. Built once with bind parameters: building it per request cost
    more than running it."""
    req, novels, events = T["execution_requests"], T["novels"], T["events"]
    source = select(
        *[bindparam(k, type_=req.c[k].type).label(k) for k in _REQUEST_VALUES],
        novels.c.id.label("novel_id"),
        novels.c.partition_key,
    ).where(
        novels.c.partition_key == bindparam("pkey"),
        novels.c.tenant_id == bindparam("tenant_id"),
        novels.c.project_id == bindparam("project_id"),
    )
    inserted = (
        pg_insert(req)
        .from_select([*_REQUEST_VALUES, "novel_id", "partition_key"], source)
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(*[req.c[c] for c in REQUEST_COLUMNS])
        .cte("inserted")
    )
    fields = list(EventEnvelope.model_fields)
    announce = (
        insert(events)
        .from_select(
            fields,
            select(
                *[bindparam(f"e_{k}", type_=events.c[k].type).label(k) for k in fields]
            ).select_from(inserted),
        )
        .cte("announce")
    )
    return select(*[inserted.c[c] for c in REQUEST_COLUMNS]).add_cte(announce)


def create_execution_request(
    conn: Connection,
    *,
    tenant_id: str,
    project_id: str,
    novel: str,
    idempotency_key: str | None,
    trace_id: str,
    params: dict[str, Any] | None = None,
    requested_by: uuid.UUID | None = None,
) -> Submitted:
    """Submit a novel of the project for execution (a pending row the intake sensor claims).

    The new row and its `request.created` event are written by one statement (`INSERT ...
    SELECT` from the project's novel, `ON CONFLICT DO NOTHING`, the event in a CTE over the
    inserted row), so the common case is a single round trip; only when nothing was inserted
    does a second query tell a replay, a key reused with another body and a missing novel
    apart.
    """
    key = validate_idempotency_key(idempotency_key)
    validate_slug(tenant_id, "tenant")
    validate_slug(project_id, "project")
    pkey = str(novel_partition_key(tenant_id, project_id, novel))
    params = canonical_params(params)
    body_hash = request_hash(pkey, params)

    new_id = uuid.uuid4()
    event = make_event(
        EventTopic.REQUEST_CREATED,
        tenant_id=tenant_id,
        project_id=project_id,
        trace_id=trace_id,
        stage=Stage.SUBMITTED,
        request_id=new_id,
        payload={"partition_key": pkey, "idempotency_key": key},
    )
    values = {
        "id": new_id,
        "tenant_id": tenant_id,
        "project_id": project_id,
        "trace_id": trace_id,
        "idempotency_key": key,
        "request_hash": body_hash,
        "status": RequestStatus.PENDING,
        "stage": Stage.SUBMITTED,
        "params": params,
        "requested_by": requested_by,
        "pkey": pkey,
    }
    values |= {f"e_{k}": v for k, v in event.model_dump(mode="python").items()}
    row = conn.execute(_submit_statement(), values).first()
    if row is not None:
        return Submitted(_row_dict(row), created=True)
    # Nothing inserted: the key exists (a replay, a concurrent duplicate that committed first,
    # or another body), or the novel is not in this project.
    found = _existing(conn, tenant_id, key, body_hash)
    if found is not None:
        return found
    raise NFError("NF-INPUT-010", f"no novel {pkey} in {tenant_id}/{project_id}")


def get_request(conn: Connection, request_id: uuid.UUID) -> dict[str, Any]:
    """One request as the caller's scope sees it (NF-INPUT-010 if absent or not visible)."""
    req = T["execution_requests"]
    row = conn.execute(
        select(*[req.c[c] for c in REQUEST_COLUMNS]).where(req.c.id == request_id)
    ).first()
    if row is None:
        raise NFError("NF-INPUT-010", f"no request {request_id}")
    return _row_dict(row)


# -- novels ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NovelUpload:
    id: uuid.UUID
    partition_key: str
    slug: str
    title: str
    source_sha256: str
    created: bool


def register_upload(
    conn: Connection,
    *,
    tenant_id: str,
    project_id: str,
    slug: str,
    title: str,
    source_sha256: str,
    source_path: str,
    trace_id: str,
    language: str | None = None,
    encoding: str | None = None,
    char_count: int | None = None,
    chapter_count: int | None = None,
) -> NovelUpload:
    """The novels row of an upload (bytes already stored and validated by the caller).

    Idempotent by partition key: the same bytes again return the stored novel; other bytes under
    a slug that is taken fail with NF-DB-002 instead of silently keeping the old text.
    """
    validate_slug(tenant_id, "tenant")
    validate_slug(project_id, "project")
    validate_slug(slug, "novel slug")
    key = str(PartitionKey(tenant_id, project_id, slug))
    novels = T["novels"]
    new_id = conn.execute(
        pg_insert(novels)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            project_id=project_id,
            trace_id=trace_id,
            idempotency_key=f"novel:{key}",
            slug=slug,
            title=title,
            language=language,
            encoding=encoding,
            partition_key=key,
            source_sha256=source_sha256,
            source_path=source_path,
            char_count=char_count,
            chapter_count=chapter_count,
        )
        .on_conflict_do_nothing()
        .returning(novels.c.id)
    ).scalar()
    if new_id is not None:
        return NovelUpload(new_id, key, slug, title, source_sha256, True)
    row = conn.execute(
        select(novels.c.id, novels.c.title, novels.c.source_sha256, novels.c.tenant_id).where(
            novels.c.partition_key == key
        )
    ).first()
    if row is None or row.tenant_id != tenant_id:  # pragma: no cover - key embeds the tenant
        raise NFError("NF-DB-002", f"novel {key} conflicts with a row you cannot see")
    if row.source_sha256 != source_sha256:
        raise NFError(
            "NF-DB-002", f"novel {key} already exists with different text; choose another slug"
        )
    return NovelUpload(row.id, key, slug, row.title, row.source_sha256, False)
