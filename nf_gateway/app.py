"""The HTTP gateway: `create_app()` builds the FastAPI application.

Run it with `uvicorn nf_gateway.app:create_app --factory` (NF_DATABASE_URL, NF_ARTIFACT_ROOT,
NF_UPLOAD_MAX_BYTES, NF_TOKEN_TTL_SECONDS, NF_GATEWAY_SECRET). The OpenAPI schema is served at
/openapi.json; docs/architecture/service-api-contracts.md is generated from it (nf_gateway.docs).
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from sqlalchemy import text
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nf_gateway import (
    dagster_control,
    docs_page,
    errors,
    limits,
    routes_admin,
    routes_auth,
    routes_projects,
    routes_rag,
    routes_read,
    schemas,
    shots,
)
from nf_gateway.deps import EngineDep, GatewayConfig
from nf_gateway.meta import route
from nf_gateway.middleware import (
    BodyLimitMiddleware,
    MethodsMiddleware,
    SecurityHeadersMiddleware,
)
from shared import telemetry
from shared.config import get_settings
from shared.db import database_url, get_engine, normalize_url
from shared.storage import artifact_store

API_VERSION = "1.0.0"
log = telemetry.get_logger("gateway")


def _import_anyio_eagerly() -> None:
    """Import all of anyio now, in the importing (main) thread.

    anyio >= 4.x imports its submodules lazily (anyio._lazyimport: `anyio.open_file` loads
    anyio._core._fileio on first use; the asyncio backend, streams and socket modules likewise),
    so they would first be imported inside uvicorn's server thread. CPython 3.11.0-3.11.7 have a
    race in `ast.parse` between threads (gh-106905, fixed in 3.11.8), and under pytest every
    anyio module is compiled through the assertion rewriter (anyio is a pytest plugin), i.e.
    parsed: a request thread and the test thread parsing together once failed
    tests/gateway/test_gateway_e2e.py with "SystemError: AST constructor recursion depth
    mismatch". Nothing is left to import in a server thread after this.
    """
    import anyio

    for mod in pkgutil.walk_packages(anyio.__path__, "anyio."):
        if mod.name == "anyio.pytest_plugin":
            continue  # imports pytest; loaded by pytest itself when it runs
        try:
            importlib.import_module(mod.name)
        except ImportError:  # optional backends (trio) and interpreter features not present
            pass
    for name in dir(anyio):  # bind the lazy attributes too
        getattr(anyio, name)


_import_anyio_eagerly()


class TraceMiddleware:
    """Adopt the caller's trace (traceparent / X-Trace-Id) or start one; echo it in X-Trace-Id;
    turn any exception that escaped the handlers into a registered-code JSON error."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        trace_id = (
            telemetry.parse_trace_header(headers.get("traceparent"), headers.get("x-trace-id"))
            or telemetry.new_trace_id()
        )
        scope["state"] = {**scope.get("state", {}), "trace_id": trace_id}
        started = False
        status = 500
        t0 = time.perf_counter()

        async def send_with_trace(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                MutableHeaders(scope=message)[errors.TRACE_HEADER] = trace_id
            await send(message)

        with telemetry.trace(trace_id):
            try:
                await self.app(scope, receive, send_with_trace)
            except Exception as exc:  # noqa: BLE001 - the last line of defence
                err = errors.to_nf_error(exc)
                log.error("unhandled error", exc_info=exc, extra={"error_code": err.code})
                if started:
                    raise
                await errors.error_response(err, trace_id)(scope, receive, send)
            finally:
                log.debug(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - t0) * 1000, 2),
                    },
                )


def default_config() -> GatewayConfig:
    settings = get_settings()
    return GatewayConfig(
        database_url=database_url(),
        artifact_root=str(settings.artifacts_dir),
        upload_max_bytes=settings.upload_max_bytes,
    )


def create_app(config: GatewayConfig | None = None) -> FastAPI:
    config = config or default_config()
    telemetry.configure_logging(get_settings().log_level)  # JSON lines carrying the trace
    settings = get_settings()
    app = FastAPI(
        title="Novel Factory gateway",
        version=API_VERSION,
        docs_url=None,  # /docs is a self-contained page (nf_gateway.docs_page): no CDN
        redoc_url=None,
        description=(
            "Login -> upload -> submit -> execute -> compose -> feedback. Every error is JSON "
            "`{error_code, message, retryable, trace_id}` with a code from the registry; every "
            "response carries `X-Trace-Id` (taken from `traceparent`/`X-Trace-Id` or new)."
        ),
    )
    app.state.config = config
    app.state.engine = get_engine(normalize_url(config.database_url))
    app.state.store = artifact_store(settings, root=config.artifact_root)
    app.state.login_throttle = limits.from_settings()
    app.state.tenant_quota = limits.TenantQuota(settings.tenant_submits_per_minute)
    app.state.terminate_run = dagster_control.terminator()
    errors.install(app)
    for module in (routes_auth, routes_admin, routes_projects, routes_read, routes_rag, shots):
        app.include_router(module.router)
    docs_page.install(app)
    # Outermost last: trace -> security headers -> OPTIONS/Allow -> CORS -> body limits.
    app.add_middleware(
        BodyLimitMiddleware,
        json_limit=settings.json_body_max_bytes,
        upload_limit=config.upload_max_bytes,
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "traceparent"],
            expose_headers=["X-Trace-Id", "X-Next-Cursor", "Link", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(MethodsMiddleware, api=app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(TraceMiddleware)

    @app.get(
        "/healthz",
        response_model=schemas.Health,
        tags=["ops"],
        summary="Liveness and database reachability",
        **route(
            role="anyone", errors=("NF-DB-001",), studio="(ops) health probe", authenticated=False
        ),
    )
    def healthz(engine: EngineDep) -> dict[str, Any]:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok", "database": True}

    app.openapi = lambda: truthful_openapi(app)  # type: ignore[method-assign]
    return app


SLUG_PARAMS = {"tenant", "project", "novel"}  # novel: NF-INPUT-005 unless a slug
IDEMPOTENCY_KEY_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": "^[\\x21-\\x7e]{1,200}$",
}


def truthful_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus what the service layer enforces on its own (so that it answers
    with its registered codes rather than a generic validation error): slug patterns and
    lengths of tenant/project path parameters, and the Idempotency-Key header that writes
    require (NF-INPUT-007 without it)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            for param in op.get("parameters", []):
                if param.get("in") == "path" and param.get("name") in SLUG_PARAMS:
                    param["schema"] = {
                        **param.get("schema", {}),
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 63,
                        "pattern": schemas.SLUG_PATTERN,
                    }
                if param.get("in") == "header" and param.get("name") == "Idempotency-Key":
                    param["required"] = True
                    param["schema"] = {**IDEMPOTENCY_KEY_SCHEMA, "title": "Idempotency-Key"}
    # free JSON (params, config): no NUL in any key or string, at any depth
    schema.setdefault("components", {}).setdefault("schemas", {})["FreeJsonValue"] = (
        schemas.FREE_JSON_VALUE
    )
    _add_links(schema)
    app.openapi_schema = schema
    return schema


# OpenAPI links: what a created resource's answer lets a client call next (and what the stateful
# fuzzer chains). (method, path) of the creating call -> {link name: (operation, parameters)}.
_PROJECT = "/v1/projects/{tenant}/{project}"
LINKS: dict[tuple[str, str], dict[str, tuple[tuple[str, str], dict[str, str]]]] = {
    ("post", f"{_PROJECT}/requests"): {
        name: (("get" if m == "get" else "post", path), {"request_id": "$response.body#/id"})
        for name, m, path in (
            ("GetRequest", "get", "/v1/requests/{request_id}"),
            ("RequestEvents", "get", "/v1/requests/{request_id}/events"),
            ("CancelRequest", "post", "/v1/requests/{request_id}/cancel"),
        )
    },
    ("post", "/v1/auth/tokens"): {
        "RevokeToken": (
            ("delete", "/v1/auth/tokens/{token_id}"),
            {"token_id": "$response.body#/id"},
        )
    },
    ("post", "/v1/tenants"): {
        name: ((m, path), {"tenant": "$response.body#/id"})
        for name, m, path in (
            ("ListProjects", "get", "/v1/tenants/{tenant}/projects"),
            ("CreateProject", "post", "/v1/tenants/{tenant}/projects"),
            ("ListMemberships", "get", "/v1/tenants/{tenant}/memberships"),
        )
    },
    ("post", "/v1/tenants/{tenant}/memberships"): {
        "RemoveMembership": (
            ("delete", "/v1/tenants/{tenant}/memberships/{membership_id}"),
            {"tenant": "$response.body#/tenant_id", "membership_id": "$response.body#/id"},
        )
    },
    ("post", f"{_PROJECT}/novels"): {
        "ListChapters": (
            ("get", f"{_PROJECT}/novels/{{novel}}/chapters"),
            {
                "tenant": "$response.body#/tenant_id",
                "project": "$response.body#/project_id",
                "novel": "$response.body#/slug",
            },
        )
    },
}


def _add_links(schema: dict[str, Any]) -> None:
    paths = schema.get("paths", {})
    for (method, path), links in LINKS.items():
        op = paths.get(path, {}).get(method)
        if op is None:
            continue
        for status, answer in op.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            answer["links"] = {
                name: {
                    "operationId": paths[target_path][target_method]["operationId"],
                    "parameters": params,
                }
                for name, ((target_method, target_path), params) in links.items()
                if target_method in paths.get(target_path, {})
            }
