"""What the head schema refuses: duplicate keys, free-text stages, unregistered error codes,
cross-tenant references and malformed standard fields."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import (
    ARRAY,
    Boolean,
    Connection,
    Date,
    Float,
    Integer,
    Numeric,
    SmallInteger,
    Text,
    Uuid,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import ENUM, JSONB
from sqlalchemy.exc import DataError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from shared.models import IDEMPOTENT_TABLES, Base, EventTopic, Job, JobStatus, Stage

pytestmark = pytest.mark.pg

# Values that satisfy a table's CHECKs where a generic dummy would not.
OVERRIDES: dict[str, dict[str, Any]] = {
    "proposals": {"kind": "provider"},
    "jobs": {"stage": Stage.INGEST.value},
}


@pytest.fixture
def conn(head_db) -> Iterator[Connection]:
    engine = head_db.engine()
    connection = engine.connect()
    outer = connection.begin()
    connection.execute(
        text(
            "INSERT INTO tenants (id, name) VALUES ('acme', 'Acme'), ('beta', 'Beta');"
            "INSERT INTO projects (tenant_id, id, name) VALUES ('acme', 'p1', 'P1'), "
            "('acme', 'p2', 'P2'), ('beta', 'p1', 'P1')"
        )
    )
    yield connection
    outer.rollback()
    connection.close()
    engine.dispose()


def _dummy(column) -> Any:
    t = column.type
    if isinstance(t, ENUM):
        return t.enums[0]
    for kind, value in (
        (JSONB, {}),
        (ARRAY, []),
        (Uuid, uuid.uuid4()),
        (Boolean, False),
        (Date, dt.date(2024, 1, 1)),
        (SmallInteger, 1),
        (Integer, 1),
        (Numeric, 0),
        (Float, 1.0),
        (Text, "x"),
    ):
        if isinstance(t, kind):
            return value
    raise AssertionError(f"no dummy value for {column}")


def _row(table: str, tenant: str, project: str, **values: Any) -> dict[str, Any]:
    """The table's required columns filled with dummies, plus `values`."""
    row: dict[str, Any] = {"tenant_id": tenant, "project_id": project}
    for column in Base.metadata.tables[table].columns:
        if column.nullable or column.server_default is not None or column.name in row:
            continue
        row[column.name] = _dummy(column)
    row.update(OVERRIDES.get(table, {}))
    row.update(values)
    if "id" in row and isinstance(Base.metadata.tables[table].c.id.type, Uuid):
        row.pop("id")
    return row


def _insert(conn: Connection, table: str, row: dict[str, Any]) -> None:
    with conn.begin_nested():
        conn.execute(insert(Base.metadata.tables[table]).values(**row))


def _refused(conn: Connection, error: type[Exception], sql: str, **params: Any) -> None:
    with pytest.raises(error):
        with conn.begin_nested():
            conn.execute(text(sql), params)


@pytest.mark.parametrize("table", IDEMPOTENT_TABLES)
def test_idempotency_key_is_unique_per_tenant(conn: Connection, table: str) -> None:
    extra = {"partition_key": lambda t, p: f"{t}.{p}.{uuid.uuid4().hex[:8]}"}

    def row(tenant: str, project: str) -> dict[str, Any]:
        values = {k: f(tenant, project) for k, f in extra.items() if table == "novels"}
        return _row(table, tenant, project, idempotency_key="key-1", **values)

    _insert(conn, table, row("acme", "p1"))
    with pytest.raises(IntegrityError, match="uq_.*_idempotency"):
        _insert(conn, table, row("acme", "p1"))
    with pytest.raises(IntegrityError, match="uq_.*_idempotency"):
        _insert(conn, table, row("acme", "p2"))  # per tenant, not per project
    _insert(conn, table, row("beta", "p1"))
    _insert(conn, table, _row(table, "acme", "p1", idempotency_key=None, **{
        k: f("acme", "p1") for k, f in extra.items() if table == "novels"}))  # fmt: skip


def test_stage_must_be_in_the_enum(conn: Connection) -> None:
    _insert(conn, "jobs", _row("jobs", "acme", "p1", stage=Stage.RENDER.value))
    _refused(
        conn,
        DataError,
        "INSERT INTO jobs (tenant_id, project_id, skill_id, stage) "
        "VALUES ('acme', 'p1', 'SKILL_01', 'rendering')",
    )
    _refused(conn, DataError, "UPDATE jobs SET stage = 'bogus'")
    _refused(
        conn,
        DataError,
        "INSERT INTO events (tenant_id, project_id, topic, stage) "
        "VALUES ('acme', 'p1', 'job.claimed', 'nope')",
    )
    # The ORM refuses before the database sees it.
    session = Session(bind=conn, join_transaction_mode="create_savepoint")
    session.add(Job(tenant_id="acme", project_id="p1", skill_id="SKILL_01", stage="rendering"))
    with pytest.raises(StatementError):
        session.flush()
    session.close()


def test_error_code_must_be_registered(conn: Connection) -> None:
    failing = (
        "INSERT INTO jobs (tenant_id, project_id, skill_id, stage, status, error_code) "
        "VALUES ('acme', 'p1', 'SKILL_01', 'render', 'failed', :code)"
    )
    _refused(conn, IntegrityError, failing, code="NF-NOPE-999")
    _refused(conn, IntegrityError, failing.replace(":code", "NULL"))  # failed needs a code
    with conn.begin_nested():
        conn.execute(text(failing), {"code": "NF-PROVIDER-003"})
    _refused(
        conn,
        IntegrityError,
        "INSERT INTO events (tenant_id, project_id, topic, error_code) "
        "VALUES ('acme', 'p1', 'job.failed', 'timeout')",
    )


def test_event_topics_are_the_listed_ones(conn: Connection) -> None:
    for topic in EventTopic:
        _insert(conn, "events", {"tenant_id": "acme", "project_id": "p1", "topic": topic.value})
    _refused(
        conn,
        IntegrityError,
        "INSERT INTO events (tenant_id, project_id, topic) VALUES ('acme', 'p1', 'job.exploded')",
    )


def test_rows_cannot_point_at_another_tenants_project(conn: Connection) -> None:
    _insert(conn, "jobs", _row("jobs", "acme", "p2"))
    with pytest.raises(IntegrityError, match="fk_jobs_project"):
        _insert(conn, "jobs", _row("jobs", "beta", "p2"))  # p2 belongs to acme only
    with pytest.raises(IntegrityError, match="fk_feedback_project"):
        _insert(conn, "feedback", _row("feedback", "nobody", "p1"))


def test_standard_fields_are_checked_and_defaulted(conn: Connection) -> None:
    with conn.begin_nested():
        row = conn.execute(
            text(
                "INSERT INTO jobs (tenant_id, project_id, skill_id, stage) "
                "VALUES ('acme', 'p1', 'SKILL_01', 'ingest') "
                "RETURNING trace_id, created_at, updated_at, status::text, attempt"
            )
        ).one()
    assert re.fullmatch(r"[0-9a-f]{32}", row.trace_id)
    assert row.created_at is not None and row.updated_at is not None
    assert (row.status, row.attempt) == (JobStatus.PENDING.value, 1)
    _refused(
        conn,
        IntegrityError,
        "INSERT INTO jobs (tenant_id, project_id, skill_id, stage, trace_id) "
        "VALUES ('acme', 'p1', 'SKILL_01', 'ingest', 'NOT-A-TRACE')",
    )
    _refused(
        conn,
        IntegrityError,
        "INSERT INTO jobs (project_id, skill_id, stage) VALUES ('p1', 'SKILL_01', 'ingest')",
    )
    _refused(conn, IntegrityError, "INSERT INTO tenants (id, name) VALUES ('Bad Tenant', 'x')")
    _refused(
        conn,
        IntegrityError,
        "INSERT INTO projects (tenant_id, id, name) VALUES ('acme', '-leading-dash', 'x')",
    )


def test_governance_and_rag_invariants(conn: Connection) -> None:
    def version(name: str, status: str) -> dict[str, Any]:
        return _row("embedding_versions", "acme", "p1", name=name, status=status, dimensions=8)

    _insert(conn, "embedding_versions", version("v1", "active"))
    _insert(conn, "embedding_versions", version("v2", "candidate"))
    with pytest.raises(IntegrityError, match="uq_embedding_versions_one_active"):
        _insert(conn, "embedding_versions", version("v3", "active"))
    with pytest.raises(IntegrityError, match="ck_feedback_rating_range"):
        _insert(conn, "feedback", _row("feedback", "acme", "p1", rating=6))
    _insert(conn, "feedback", _row("feedback", "acme", "p1", rating=5, tags=["a", "b"]))
    user = uuid.uuid4()
    conn.execute(
        text("INSERT INTO users (id, email, password_hash) VALUES (:id, 'A@x.org', 'h')"),
        {"id": user},
    )
    _refused(
        conn, IntegrityError, "INSERT INTO users (email, password_hash) VALUES ('a@X.org', 'h')"
    )
    member = (
        "INSERT INTO memberships (user_id, tenant_id, project_id, role) "
        "VALUES (:u, 'acme', NULL, 'owner')"
    )
    conn.execute(text(member), {"u": user})
    _refused(conn, IntegrityError, member, u=user)  # NULL project counts as equal
