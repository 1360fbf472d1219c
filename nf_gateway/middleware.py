"""ASGI middleware of the gateway: what every request passes through before any route.

- `BodyLimitMiddleware`: a body larger than its route's limit is refused with NF-INPUT-016
  (413) while it is being read: at once when Content-Length says so, else as soon as the
  bytes read pass the limit; the rest is never read (the connection is closed). JSON routes
  take `json_body_max_bytes` (1 MiB); the upload route takes the upload limit plus multipart
  room and streams on its own. A JSON body is also checked before any parsing: nesting deeper
  than JSON_MAX_NESTING (NF-INPUT-014) and lone surrogate escapes such as "\\ud800"
  (NF-INPUT-015). NUL (raw or %00) in the path is NF-INPUT-001, before routing (query
  parameters are checked by their routes: slugs and names with NF-INPUT-006).
- `SecurityHeadersMiddleware`: X-Content-Type-Options: nosniff, X-Frame-Options: DENY,
  Referrer-Policy: no-referrer everywhere; Cache-Control: no-store on every /v1 answer (tokens,
  tenant data); a Content-Security-Policy on every answer (the strictest on JSON; the docs
  page allows only its own inline style).
- `MethodsMiddleware`: OPTIONS on any route path answers 204 with `Allow` listing every method
  of that path; a 405 carries the same complete `Allow`.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nf_gateway import errors
from shared.errors import NFError

JSON_MAX_NESTING = 64  # any JSON body; free JSON fields are held to Settings.json_max_depth
UPLOAD_PATH = re.compile(r"^/v1/projects/[^/]+/[^/]+/novels/?$")
MULTIPART_SLACK = 64 * 1024

# A \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or a low one without a high one
# before it; only escapes preceded by an even number of backslashes count.
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\)(?:\\\\)*(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKETS = bytes(range(256)).translate(None, b"[]{}")  # every byte but brackets: deleted
_DELTA = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_nesting(body: bytes) -> int:
    """The deepest nesting of arrays/objects in a JSON text (strings ignored)."""
    brackets = _STRING.sub(b"", body).translate(None, _BRACKETS)
    if not brackets:
        return 0
    return max(accumulate(map(_DELTA.__getitem__, brackets)))


def check_json_body(body: bytes) -> None:
    if json_nesting(body) > JSON_MAX_NESTING:
        raise NFError("NF-INPUT-014", f"the JSON body nests deeper than {JSON_MAX_NESTING} levels")
    if b"\\u" in body and _LONE_SURROGATE.search(body):
        raise NFError("NF-INPUT-015", "the JSON body has a lone surrogate escape (e.g. \\ud800)")


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit + MULTIPART_SLACK

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = scope.get("state", {}).get("trace_id")
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if b"\x00" in raw_path or b"%00" in raw_path:
            err = NFError("NF-INPUT-001", "NUL characters are not allowed in the URL")
            await errors.error_response(err, trace_id)(scope, receive, send)
            return
        upload = scope["method"] == "POST" and UPLOAD_PATH.match(scope["path"])
        limit = self.upload_limit if upload else self.json_limit
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit, trace_id)
            return
        if upload:  # streamed by the route, which stops at its own limit; counted here too
            await self._stream_counted(scope, receive, send, limit, trace_id)
            return
        # JSON routes: read (at most `limit` bytes), check, then replay to the app.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await self._refuse(scope, receive, send, limit, trace_id)
                return
        ctype = Headers(scope=scope).get("content-type", "")
        if body and ("json" in ctype or not ctype):
            try:
                check_json_body(bytes(body))
            except NFError as err:
                await errors.error_response(err, trace_id)(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # http.disconnect (streaming responses listen for it)

        await self.app(scope, replay, send)

    async def _stream_counted(
        self, scope: Scope, receive: Receive, send: Send, limit: int, trace_id: str | None
    ) -> None:
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit, trace_id)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, limit: int, trace_id: str | None
    ) -> None:
        err = NFError(
            "NF-INPUT-016",
            f"the request body is larger than {limit:,} bytes; the rest was not read",
        )
        response = errors.error_response(err, trace_id)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


# -- headers ----------------------------------------------------------------------------------
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DOCS_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                h = MutableHeaders(scope=message)
                h.setdefault("X-Content-Type-Options", "nosniff")
                h.setdefault("X-Frame-Options", "DENY")
                h.setdefault("Referrer-Policy", "no-referrer")
                h.setdefault(
                    "Content-Security-Policy", DOCS_CSP if path.startswith("/docs") else API_CSP
                )
                if path.startswith("/v1/"):
                    h["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, with_headers)


class MethodsMiddleware:
    """OPTIONS and a complete Allow on 405, from the app's routes."""

    def __init__(self, app: ASGIApp, api: Any) -> None:
        self.app = app
        self.api = api  # the FastAPI app: its OpenAPI paths are the routes (built on first use)
        self._table: list[tuple[re.Pattern, set[str]]] | None = None

    @property
    def table(self) -> list[tuple[re.Pattern, set[str]]]:
        if self._table is None:
            paths = {p: {m.upper() for m in ops} for p, ops in self.api.openapi()["paths"].items()}
            paths.update({"/openapi.json": {"GET"}, "/docs": {"GET"}})
            table = []
            for path, methods in paths.items():
                regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$")
                methods = methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())
                table.append((regex, methods))
            self._table = table
        return self._table

    def allowed(self, path: str) -> set[str] | None:
        found: set[str] = set()
        for regex, methods in self.table:
            if regex.match(path):
                found |= methods
        return found or None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        allowed = self.allowed(scope["path"])
        headers = Headers(scope=scope)
        preflight = "access-control-request-method" in headers and "origin" in headers
        if scope["method"] == "OPTIONS" and allowed and not preflight:
            allow = ", ".join(sorted(allowed))
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"allow", allow.encode())],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def fix_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405 and allowed:
                MutableHeaders(scope=message)["Allow"] = ", ".join(sorted(allowed))
            await send(message)

        await self.app(scope, receive, fix_allow)
