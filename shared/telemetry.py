"""Trace context and structured JSON logs.

The current tenant_id / project_id / trace_id live in one context variable, so they follow a
request through threads started with `contextvars.copy_context()` and through asyncio tasks, and
every log record carries them without the caller passing them around.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    tenant_id: str | None = None
    project_id: str | None = None


_current: ContextVar[TraceContext | None] = ContextVar("nf_trace", default=None)


def new_trace_id() -> str:
    """A W3C-compatible 128-bit trace id (32 lowercase hex chars)."""
    return secrets.token_hex(16)


def parse_trace_header(traceparent: str | None, x_trace_id: str | None = None) -> str | None:
    """The trace id from a W3C `traceparent` or an `X-Trace-Id` header, if well-formed."""
    if traceparent:
        m = _TRACEPARENT.match(traceparent.strip().lower())
        if m and m.group(1) != "0" * 32:
            return m.group(1)
    if x_trace_id:
        candidate = x_trace_id.strip().lower().replace("-", "")
        if _TRACE_ID.match(candidate):
            return candidate
    return None


def current() -> TraceContext | None:
    return _current.get()


def current_trace_id() -> str:
    """The active trace id; starts a new trace if none is active."""
    ctx = _current.get()
    if ctx is None:
        ctx = TraceContext(trace_id=new_trace_id())
        _current.set(ctx)
    return ctx.trace_id


@contextmanager
def trace(
    trace_id: str | None = None, *, tenant_id: str | None = None, project_id: str | None = None
) -> Iterator[TraceContext]:
    """Run a block inside a trace; inherits fields of the enclosing trace that are not given."""
    parent = _current.get()
    ctx = TraceContext(trace_id=trace_id or (parent.trace_id if parent else new_trace_id()))
    if parent:
        ctx = replace(ctx, tenant_id=parent.tenant_id, project_id=parent.project_id)
    ctx = replace(
        ctx,
        tenant_id=tenant_id or ctx.tenant_id,
        project_id=project_id or ctx.project_id,
    )
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; tenant_id/project_id/trace_id are always present (maybe null)."""

    _RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        ctx = _current.get()
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "tenant_id": ctx.tenant_id if ctx else None,
            "project_id": ctx.project_id if ctx else None,
            "trace_id": ctx.trace_id if ctx else None,
        }
        for key, value in record.__dict__.items():
            if key not in self._RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", stream=None) -> None:
    """Route the `nf` logger tree to JSON lines on `stream` (stderr by default). Idempotent:
    a second call re-points the one JSON handler instead of adding another."""
    logger = logging.getLogger("nf")
    logger.setLevel(level)
    handler = next((h for h in logger.handlers if isinstance(h.formatter, JsonFormatter)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    handler.setStream(stream or _CurrentStderr())
    logger.propagate = False


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written: a handler bound to the stderr object of
    configuration time would break when a test runner or daemon swaps it."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"nf.{name}")
