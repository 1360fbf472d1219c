"""FastAPI dependencies: the gateway's engine and store, the caller, the trace and the key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from nf_gateway.principal import Principal, load_principal
from shared.errors import NFError
from shared.storage import ArtifactStore


@dataclass(frozen=True)
class GatewayConfig:
    database_url: str
    artifact_root: str
    upload_max_bytes: int


# Trivial dependencies are `async def`: FastAPI runs a plain `def` dependency in the thread
# pool, a thread hop per dependency per request. Only `principal` (a database read) is sync.
_bearer = HTTPBearer(
    auto_error=False,
    description="An access token (POST /v1/auth/login) or an API token (POST /v1/auth/tokens).",
)


async def engine(request: Request) -> Engine:
    return request.app.state.engine


async def store(request: Request) -> ArtifactStore:
    return request.app.state.store


async def config(request: Request) -> GatewayConfig:
    return request.app.state.config


async def trace_id(request: Request) -> str:
    return request.state.trace_id


def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None:
        raise NFError("NF-AUTH-002", "an Authorization: Bearer token is required")
    return load_principal(request.app.state.engine, creds.credentials)


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Required on writes: a repeat with the same body returns the original "
            "result; with a different body it fails with NF-INPUT-008.",
        ),
    ] = None,
) -> str | None:
    return key


@dataclass(frozen=True)
class Page:
    limit: int
    cursor: str | None


async def page(
    limit: Annotated[int, Query(ge=1, le=500, description="Rows per page")] = 100,
    cursor: Annotated[
        str | None,
        Query(
            max_length=512,
            pattern="^[A-Za-z0-9_-]+$",
            description="X-Next-Cursor of the previous page",
        ),
    ] = None,
) -> Page:
    return Page(limit, cursor)


# Slugs in paths: the service layer checks them (NF-INPUT-006, the same code as the CLI); the
# schema publishes the same rule (pattern and length are added in app.custom_openapi).
TenantPath = Annotated[str, Path(description="Tenant slug")]
ProjectPath = Annotated[str, Path(description="Project slug")]

EngineDep = Annotated[Engine, Depends(engine)]
PageDep = Annotated[Page, Depends(page)]
StoreDep = Annotated[ArtifactStore, Depends(store)]
ConfigDep = Annotated[GatewayConfig, Depends(config)]
TraceDep = Annotated[str, Depends(trace_id)]
PrincipalDep = Annotated[Principal, Depends(principal)]
KeyDep = Annotated[str | None, Depends(idempotency_key)]
