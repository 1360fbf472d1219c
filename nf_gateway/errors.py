"""Every failure leaves the gateway as JSON {error_code, message, retryable, trace_id} with the
code's HTTP status, and the trace id in the X-Trace-Id header. Nothing escapes as a bare 500:
an unexpected exception becomes NF-INTERNAL-000 (logged with its traceback)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import telemetry
from shared.errors import NFError

log = telemetry.get_logger("gateway")
TRACE_HEADER = "X-Trace-Id"


class ErrorBody(BaseModel):
    error_code: str
    message: str
    retryable: bool = False
    trace_id: str | None = None


def error_response(err: NFError, trace_id: str | None = None) -> JSONResponse:
    trace_id = trace_id or (telemetry.current().trace_id if telemetry.current() else None)
    body = {**err.to_dict(), "trace_id": trace_id}
    headers = {TRACE_HEADER: trace_id} if trace_id else {}
    if err.code in ("NF-AUTH-002", "NF-AUTH-003"):
        headers["WWW-Authenticate"] = "Bearer"
    retry_after = err.context.get("retry_after")
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body, status_code=err.http_status, headers=headers)


def to_nf_error(exc: BaseException) -> NFError:
    """Map any exception to a registered code."""
    if isinstance(exc, NFError):
        return exc
    if isinstance(exc, IntegrityError):
        return NFError("NF-DB-002", "the write conflicts with existing data")
    if isinstance(exc, OperationalError):
        text = str(exc.orig) if exc.orig else str(exc)
        if "timeout" in text or "lock" in text:
            return NFError("NF-DB-003")
        return NFError("NF-DB-001")
    if isinstance(exc, DBAPIError):
        return NFError("NF-INTERNAL-000", "unexpected database error")
    if isinstance(exc, ValueError) and "NUL (0x00)" in str(exc):
        # psycopg2 refuses NUL in strings before sending: input that slipped past validation
        return NFError("NF-INPUT-001", "NUL characters are not allowed")
    return NFError("NF-INTERNAL-000")


def _validation_message(errors: list[dict[str, Any]]) -> str:
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
        parts.append(f"{loc or 'body'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is invalid"


def _validation_code(errors: list[dict[str, Any]]) -> str:
    """The registered code of a validation failure: the same code the service layer would
    give (a slug pattern: NF-INPUT-006; a lone surrogate: NF-INPUT-015), else NF-INPUT-001."""
    from nf_gateway.schemas import LONE_SURROGATE, SLUG_PATTERN

    for e in errors:
        if LONE_SURROGATE in str(e.get("msg", "")):
            return "NF-INPUT-015"
    if errors and all(
        e.get("type") == "string_pattern_mismatch"
        and (e.get("ctx") or {}).get("pattern") == SLUG_PATTERN
        for e in errors
    ):
        return "NF-INPUT-006"
    return "NF-INPUT-001"


def install(app: FastAPI) -> None:
    @app.exception_handler(NFError)
    async def _nf(request: Request, exc: NFError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("request failed", extra={"error_code": exc.code, "detail": exc.detail})
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        return error_response(NFError(_validation_code(errs), _validation_message(errs)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err = NFError("NF-INPUT-010", "no such endpoint")
        elif exc.status_code == 405:
            resp = error_response(NFError("NF-INPUT-001", "method not allowed"))
            resp.status_code = 405
            if exc.headers:
                resp.headers.update(exc.headers)
            return resp
        else:
            err = NFError("NF-INPUT-001", str(exc.detail))
        return error_response(err)

    @app.exception_handler(DBAPIError)
    async def _db(request: Request, exc: DBAPIError) -> JSONResponse:
        err = to_nf_error(exc)
        log.error("database error", exc_info=exc, extra={"error_code": err.code})
        return error_response(err)
