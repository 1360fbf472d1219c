"""The write path from outside: novels uploaded into a project and execution requests.

Used by the gateway and the CLI alike, so both apply the same rules:

- every call runs inside the caller's transaction, normally opened with `scoped()`, which drops
  to the non-owner role `nf_app` and names the tenants the caller may see, so PostgreSQL's
  row-level security (migration 0005) filters every statement on top of the gateway's checks;
- a request is idempotent per (tenant, project, user, Idempotency-Key) for
  `idempotency_retention_hours`: the same key with the same canonical body returns the stored
  request, with a different body it fails with NF-INPUT-008; concurrent duplicates meet at the
  unique index (`INSERT ... ON CONFLICT DO NOTHING`, then read);
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
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event, insert, select, text, update
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


def scoped_engine(engine: Engine, tenants: Sequence[str] | None) -> Engine:
    """An engine whose every transaction runs under `apply_scope(tenants)`: for code that takes
    an engine and opens its own connections (the RAG readers), so row-level security applies
    to each of its statements too. The scope is set on the DBAPI connection as the transaction
    begins (SET LOCAL: it ends with that transaction)."""
    if tenants is not None:
        for t in tenants:
            validate_slug(t, "tenant")
    role, value = (OPERATOR_ROLE, "") if tenants is None else (APP_ROLE, ",".join(tenants))
    scoped_eng = engine.execution_options(nf_scope=value or "*")

    def _begin(conn: Connection) -> None:
        cur = conn.connection.dbapi_connection.cursor()
        try:
            cur.execute(
                f"SET LOCAL ROLE {role}; SELECT set_config(%s, %s, true)", (TENANT_SETTING, value)
            )
        finally:
            cur.close()

    event.listen(scoped_eng, "begin", _begin)
    return scoped_eng


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
            # Well formed but naming a novel elsewhere: no such novel here (as for a slug).
            raise NFError(
                "NF-INPUT-010", f"partition key {novel!r} is not in {tenant_id}.{project_id}"
            )
        return key
    if not SLUG_RE.match(novel):
        raise NFError("NF-INPUT-005", f"novel slug {novel!r} is not a valid partition part")
    return PartitionKey(tenant_id, project_id, novel)


# Reads tolerate rows written under looser rules than today's (before issue 11 nothing bounded
# the depth): anything up to this depth is returned as stored, deeper values are replaced.
READ_MAX_DEPTH = 64


def check_json_shape(
    value: Any, what: str, *, max_depth: int | None = None, max_items: int | None = None
) -> None:
    """NF-INPUT-014 when `value` nests containers deeper than `max_depth` (an object or list
    counts one level) or holds more than `max_items` values; NF-INPUT-015 for a string with a
    lone surrogate (not encodable as UTF-8). Iterative: any depth is safe to check."""
    from shared.config import get_settings

    settings = get_settings()
    max_depth = max_depth or settings.json_max_depth
    max_items = max_items or settings.json_max_items
    stack: list[tuple[Any, int]] = [(value, 1)]
    items = 0
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict | list):
            if depth > max_depth:
                raise NFError("NF-INPUT-014", f"{what} nest deeper than {max_depth} levels")
            items += len(v)
            if items > max_items:
                raise NFError("NF-INPUT-014", f"{what} hold more than {max_items} values")
            if isinstance(v, dict):
                stack.extend((k, depth) for k in v)
                stack.extend((x, depth + 1) for x in v.values())
            else:
                stack.extend((x, depth + 1) for x in v)
        elif isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise NFError("NF-INPUT-015", f"{what} contain a lone surrogate") from None


def readable_json(value: Any, what: str = "value") -> Any:
    """A stored JSON value as reads return it: unchanged, or, when it nests deeper than
    READ_MAX_DEPTH (a row written before the limits), a marker object the client can show.
    `nf gateway repair` rewrites such rows."""
    try:
        check_json_shape(value, what, max_depth=READ_MAX_DEPTH, max_items=10**9)
    except NFError as exc:
        return {"_nf_unreadable": f"{exc.detail}; an operator can run `nf gateway repair`"}
    return value


def canonical_params(params: dict[str, Any] | None, what: str = "params") -> dict[str, Any]:
    params = params or {}
    if not isinstance(params, dict):
        raise NFError("NF-INPUT-001", f"{what} must be a JSON object")
    check_json_shape(params, what)
    try:
        raw = json.dumps(params, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NFError("NF-INPUT-001", f"{what} are not plain JSON: {exc}") from None
    if "\x00" in raw or "\\u0000" in raw:
        raise NFError("NF-INPUT-001", f"{what} must not contain NUL characters")
    if len(raw.encode()) > MAX_PARAMS_BYTES:
        raise NFError("NF-INPUT-001", f"{what} exceed {MAX_PARAMS_BYTES} bytes")
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


# -- idempotency keys ------------------------------------------------------------------------
# A client's key is scoped to (tenant, project, user): the stored key is
# `k1:<project>:<user id or ->:<key>` under the table's UNIQUE (tenant_id, idempotency_key), so
# the same key from another user or project is a different key (it can neither replay nor
# reveal their row). After `idempotency_retention_hours` a key expires: the old row keeps it
# renamed to `x1:<row id>:<stored key>` and the key can be used again.
SCOPED_PREFIX, EXPIRED_PREFIX = "k1:", "x1:"


def scoped_key(project_id: str, user_id: uuid.UUID | None, key: str) -> str:
    return f"{SCOPED_PREFIX}{project_id}:{user_id or '-'}:{key}"


def public_key(stored: str | None) -> str | None:
    """The key as the client sent it (stored keys carry their scope)."""
    if stored is None:
        return None
    if stored.startswith(EXPIRED_PREFIX):
        stored = stored.split(":", 2)[2]
    if stored.startswith(SCOPED_PREFIX):
        return stored.split(":", 3)[3]
    return stored


def retention_cutoff() -> datetime:
    from shared.config import get_settings

    hours = get_settings().idempotency_retention_hours
    return datetime.now(UTC) - timedelta(hours=hours)


def expire_key(conn: Connection, table: str, row_id: Any, stored: str) -> None:
    t = T[table]
    conn.execute(
        update(t)
        .where(t.c.id == row_id, t.c.idempotency_key == stored)
        .values(idempotency_key=f"{EXPIRED_PREFIX}{row_id}:{stored}")
    )


def _row_dict(row: Any) -> dict[str, Any]:
    out = {c: getattr(row, c) for c in REQUEST_COLUMNS}
    out["idempotency_key"] = public_key(out["idempotency_key"])
    out["params"] = readable_json(out["params"], "params")
    return out


request_view = _row_dict  # a request row as the API returns it


def _existing(
    conn: Connection, tenant_id: str, key: str, body_hash: str, shown_key: str | None = None
) -> Submitted | None:
    """The stored request under this (scoped) key, None when there is none or it expired (the
    expired row is renamed so the key can be inserted again)."""
    req = T["execution_requests"]
    row = conn.execute(
        select(*[req.c[c] for c in REQUEST_COLUMNS], req.c.request_hash).where(
            req.c.tenant_id == tenant_id, req.c.idempotency_key == key
        )
    ).first()
    if row is None:
        return None
    if row.created_at < retention_cutoff():
        expire_key(conn, "execution_requests", row.id, key)
        return None
    if row.request_hash != body_hash:
        raise NFError(
            "NF-INPUT-008",
            f"Idempotency-Key {shown_key or key!r} was used for request {row.id} with a "
            "different body",
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
    stored_key = scoped_key(project_id, requested_by, key)

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
        "idempotency_key": stored_key,
        "request_hash": body_hash,
        "status": RequestStatus.PENDING,
        "stage": Stage.SUBMITTED,
        "params": params,
        "requested_by": requested_by,
        "pkey": pkey,
    }
    values |= {f"e_{k}": v for k, v in event.model_dump(mode="python").items()}
    for _attempt in range(2):
        row = conn.execute(_submit_statement(), values).first()
        if row is not None:
            return Submitted(_row_dict(row), created=True)
        # Nothing inserted: the key exists (a replay, a concurrent duplicate that committed
        # first, another body, or an expired key), or the novel is not in this project.
        found = _existing(conn, tenant_id, stored_key, body_hash, key)
        if found is not None:
            return found
        if not conn.execute(
            select(T["novels"].c.id).where(
                T["novels"].c.partition_key == pkey, T["novels"].c.tenant_id == tenant_id
            )
        ).first():
            break
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
