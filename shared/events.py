"""Event contracts and the outbox writer.

Every event is an `EventEnvelope` written to the `events` table (the outbox) in the same
transaction as the state change it reports, so an event exists exactly when its change does.
Failure topics must carry a registered error_code; the tenant, project and trace default to the
active trace context (shared.telemetry).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import Connection, insert
from sqlalchemy.orm import Session

from shared import telemetry
from shared.errors import REGISTRY
from shared.models.enums import EventTopic
from shared.stages import Stage

FAILURE_TOPICS = frozenset({EventTopic.JOB_FAILED})


class EventEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: EventTopic
    tenant_id: str
    project_id: str
    trace_id: str
    stage: Stage | None = None
    request_id: uuid.UUID | None = None
    run_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    error_code: str | None = None
    error_message: str | None = None
    payload: dict[str, Any] = {}

    @model_validator(mode="after")
    def _codes(self) -> EventEnvelope:
        if self.error_code is not None and self.error_code not in REGISTRY:
            raise ValueError(f"unregistered error_code {self.error_code!r}")
        if self.topic in FAILURE_TOPICS and self.error_code is None:
            raise ValueError(f"{self.topic} events must carry an error_code")
        return self


def make_event(topic: EventTopic | str, **fields: Any) -> EventEnvelope:
    """Build an envelope, filling tenant/project/trace from the active trace context."""
    ctx = telemetry.current()
    fields.setdefault("trace_id", ctx.trace_id if ctx else telemetry.current_trace_id())
    if ctx:
        fields.setdefault("tenant_id", ctx.tenant_id)
        fields.setdefault("project_id", ctx.project_id)
    return EventEnvelope(topic=EventTopic(topic), **fields)


def emit(session: Session | Connection, topic: EventTopic | str, **fields: Any) -> EventEnvelope:
    """Validate and append one event to the outbox inside the caller's transaction."""
    event = make_event(topic, **fields)
    emit_many(session, [event])
    return event


def emit_many(session: Session | Connection, events: list[EventEnvelope]) -> None:
    if not events:
        return
    from shared.models import Base

    table = Base.metadata.tables["events"]
    session.execute(insert(table), [e.model_dump(mode="python") for e in events])
