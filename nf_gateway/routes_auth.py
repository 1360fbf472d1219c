"""Login, the caller's identity and API tokens."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from nf_gateway import schemas, service
from nf_gateway.deps import EngineDep, PrincipalDep
from nf_gateway.meta import route

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=schemas.LoginOut,
    summary="Exchange e-mail and password for a short-lived access token",
    **route(role="anyone", errors=("NF-AUTH-001",), studio="Sign-in page", authenticated=False),
)
async def login(body: schemas.LoginIn, engine: EngineDep) -> dict:
    # scrypt takes tens of milliseconds: keep it off the event loop.
    return await run_in_threadpool(service.login, engine, body.email, body.password)


@router.get(
    "/me",
    response_model=schemas.MeOut,
    summary="The caller: user, operator flag, memberships",
    **route(role="any authenticated", errors=(), studio="Header: account menu"),
)
def me(principal: PrincipalDep) -> dict:
    return service.whoami(principal)


@router.post(
    "/tokens",
    response_model=schemas.NewTokenOut,
    status_code=201,
    summary="Create an API token (the secret is shown once)",
    **route(
        role="any authenticated",
        errors=("NF-TENANCY-001", "NF-INPUT-006"),
        studio="Settings: API tokens",
    ),
)
def create_token(body: schemas.TokenIn, engine: EngineDep, principal: PrincipalDep) -> dict:
    return service.create_api_token(
        engine,
        principal,
        name=body.name,
        tenant_id=body.tenant_id,
        expires_in_days=body.expires_in_days,
    )


@router.get(
    "/tokens",
    response_model=list[schemas.TokenOut],
    summary="The caller's API tokens (without secrets)",
    **route(role="any authenticated", errors=(), studio="Settings: API tokens"),
)
def list_tokens(engine: EngineDep, principal: PrincipalDep) -> list:
    return service.list_api_tokens(engine, principal)


@router.delete(
    "/tokens/{token_id}",
    response_model=schemas.TokenOut,
    summary="Revoke an API token (idempotent)",
    **route(
        role="token owner or operator", errors=("NF-INPUT-010",), studio="Settings: API tokens"
    ),
)
def revoke_token(token_id: uuid.UUID, engine: EngineDep, principal: PrincipalDep) -> dict:
    return service.revoke_api_token(engine, principal, token_id)
