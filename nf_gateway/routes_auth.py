"""Login (throttled), logout, password change, the caller's identity and API tokens."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from nf_gateway import schemas, service
from nf_gateway.deps import EngineDep, PageDep, PrincipalDep
from nf_gateway.limits import LoginThrottle
from nf_gateway.meta import route
from nf_gateway.paging import link_next
from shared.errors import NFError

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/login",
    response_model=schemas.LoginOut,
    summary="Exchange e-mail and password for a short-lived access token",
    **route(
        role="anyone",
        errors=("NF-AUTH-001", "NF-AUTH-005"),
        studio="Sign-in page",
        authenticated=False,
    ),
)
async def login(body: schemas.LoginIn, request: Request, engine: EngineDep) -> dict:
    throttle: LoginThrottle = request.app.state.login_throttle
    account = body.email.strip().lower()
    client = request.client.host if request.client else "-"
    throttle.check(account, client)  # a locked-out attempt costs no hashing
    async with throttle.hashing():  # scrypt: bounded threads, off the event loop
        throttle.check(account, client)  # failures may have landed while this one waited
        try:
            out = await run_in_threadpool(service.login, engine, body.email, body.password)
        except NFError as exc:
            if exc.code == "NF-AUTH-001":
                throttle.failed(account, client)
            raise
    throttle.succeeded(account)
    return out


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
        errors=("NF-TENANCY-001", "NF-INPUT-006", "NF-AUTH-006"),
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
def list_tokens(
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    page: PageDep,
) -> list:
    rows, nxt = service.list_api_tokens(engine, principal, page.limit, page.cursor)
    link_next(request, response, nxt)
    return rows


@router.delete(
    "/tokens/{token_id}",
    response_model=schemas.TokenOut,
    summary="Revoke an API token and the tokens created with it (idempotent)",
    **route(
        role="token owner or operator", errors=("NF-INPUT-010",), studio="Settings: API tokens"
    ),
)
def revoke_token(token_id: uuid.UUID, engine: EngineDep, principal: PrincipalDep) -> dict:
    return service.revoke_api_token(engine, principal, token_id)


@router.post(
    "/logout",
    response_model=schemas.LogoutOut,
    summary="End the token of this call (access or API token); everywhere=true ends every "
    "access token of the user too",
    **route(role="any authenticated", errors=(), studio="Header: account menu, Sign out"),
)
def logout(
    engine: EngineDep,
    principal: PrincipalDep,
    everywhere: Annotated[bool, Query(description="Also end all other sessions")] = False,
) -> dict:
    return service.logout(engine, principal, everywhere=everywhere)


@router.post(
    "/password",
    response_model=schemas.LoginOut,
    summary="Change the caller's password; ends every access token issued before "
    "(a fresh one is returned)",
    **route(
        role="any authenticated",
        errors=("NF-AUTH-001", "NF-AUTH-005"),
        studio="Settings: password",
    ),
)
async def change_password(
    body: schemas.PasswordIn, request: Request, engine: EngineDep, principal: PrincipalDep
) -> dict:
    throttle: LoginThrottle = request.app.state.login_throttle
    account = principal.email.lower()
    client = request.client.host if request.client else "-"
    throttle.check(account, client)
    async with throttle.hashing():
        try:
            return await run_in_threadpool(
                service.change_password,
                engine,
                principal,
                current_password=body.current_password,
                new_password=body.new_password,
            )
        except NFError as exc:
            if exc.code == "NF-AUTH-001":
                throttle.failed(account, client)
            raise
