from __future__ import annotations

import io
import json
import uuid

import pytest
from sqlalchemy import select

from nf_services.novels import ensure_tenant_project
from shared import events, telemetry
from shared.models import Base


def test_trace_context_reaches_every_log_line():
    stream = io.StringIO()
    telemetry.configure_logging("INFO", stream=stream)
    log = telemetry.get_logger("test")
    with telemetry.trace(tenant_id="acme", project_id="fantasy") as ctx:
        log.info("inside", extra={"chapter": 3})
    log.info("outside")
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines()[-2:])
    assert (inside["tenant_id"], inside["project_id"], inside["trace_id"]) == (
        "acme",
        "fantasy",
        ctx.trace_id,
    )
    assert inside["chapter"] == 3
    assert {"tenant_id", "project_id", "trace_id"} <= outside.keys()


def test_nested_trace_inherits_and_restores():
    with telemetry.trace(tenant_id="a", project_id="p") as outer:
        with telemetry.trace() as inner:
            assert inner.trace_id == outer.trace_id and inner.tenant_id == "a"
        with telemetry.trace("f" * 32) as other:
            assert other.trace_id == "f" * 32 and other.project_id == "p"
        assert telemetry.current() == outer


@pytest.mark.parametrize(
    ("traceparent", "x_trace", "expected"),
    [
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            None,
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ("00-00000000000000000000000000000000-00f067aa0ba902b7-01", None, None),
        ("garbage", "4BF92F35-77B3-4DA6-A3CE-929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
        (None, "'; drop table x; --", None),
    ],
)
def test_trace_headers(traceparent, x_trace, expected):
    assert telemetry.parse_trace_header(traceparent, x_trace) == expected


@pytest.mark.pg
def test_trace_id_lands_on_the_event_row(engine):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    ensure_tenant_project(engine, tenant, "p")
    with telemetry.trace(tenant_id=tenant, project_id="p") as ctx, engine.begin() as conn:
        events.emit(conn, "run.started", payload={"why": "test"})
    table = Base.metadata.tables["events"]
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.tenant_id == tenant)).mappings().one()
    assert row["trace_id"] == ctx.trace_id and row["project_id"] == "p"


def test_failure_events_need_a_registered_code():
    with pytest.raises(ValueError, match="error_code"):
        events.make_event("job.failed", tenant_id="t", project_id="p", trace_id="a" * 32)
    with pytest.raises(ValueError, match="unregistered"):
        events.make_event(
            "job.failed", tenant_id="t", project_id="p", trace_id="a" * 32, error_code="NF-NOPE-999"
        )
    with pytest.raises(ValueError):
        events.make_event("job.exploded", tenant_id="t", project_id="p", trace_id="a" * 32)
