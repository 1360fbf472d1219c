"""Users, tenants, projects and memberships."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from nf_gateway import schemas, service
from nf_gateway.deps import EngineDep, PageDep, PrincipalDep, TenantPath
from nf_gateway.meta import route
from nf_gateway.paging import link_next

router = APIRouter(prefix="/v1", tags=["admin"])


@router.post(
    "/users",
    response_model=schemas.UserOut,
    status_code=201,
    summary="Create a user",
    **route(
        role="operator",
        errors=("NF-AUTH-004", "NF-DB-002", "NF-INPUT-006"),
        studio="Operator console: users",
    ),
)
def create_user(body: schemas.UserIn, engine: EngineDep, principal: PrincipalDep) -> dict:
    return service.create_user(
        engine,
        principal,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        is_operator=body.is_operator,
    )


@router.post(
    "/tenants",
    response_model=schemas.TenantOut,
    status_code=201,
    summary="Create a tenant",
    **route(
        role="operator",
        errors=("NF-AUTH-004", "NF-DB-002", "NF-INPUT-006"),
        studio="Operator console: tenants",
    ),
)
def create_tenant(body: schemas.TenantIn, engine: EngineDep, principal: PrincipalDep) -> dict:
    return service.create_tenant(engine, principal, tenant_id=body.id, name=body.name)


@router.post(
    "/tenants/{tenant}/projects",
    response_model=schemas.ProjectOut,
    status_code=201,
    summary="Create a project in a tenant",
    **route(
        role="owner (tenant-wide)",
        errors=("NF-AUTH-004", "NF-TENANCY-001", "NF-DB-002", "NF-INPUT-006"),
        studio="Tenant settings: projects",
    ),
)
def create_project(
    tenant: TenantPath, body: schemas.ProjectIn, engine: EngineDep, principal: PrincipalDep
) -> dict:
    return service.create_project(
        engine,
        principal,
        tenant_id=tenant,
        project_id=body.id,
        name=body.name,
        config=body.config,
    )


@router.get(
    "/tenants/{tenant}/projects",
    response_model=list[schemas.ProjectOut],
    summary="Projects of a tenant that the caller can read",
    **route(role="viewer", errors=("NF-TENANCY-001", "NF-INPUT-006"), studio="Project switcher"),
)
def list_projects(
    tenant: TenantPath,
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    page: PageDep,
) -> list:
    rows, nxt = service.list_projects(engine, principal, tenant, page.limit, page.cursor)
    link_next(request, response, nxt)
    return rows


@router.post(
    "/tenants/{tenant}/memberships",
    response_model=schemas.MembershipOut,
    summary="Give a user a role in the tenant or one of its projects (upsert). An e-mail "
    "without an account is invited (the account is created disabled, claimed by POST /v1/users),"
    " so the answer does not reveal which addresses have accounts",
    **route(
        role="owner (tenant-wide)",
        errors=("NF-AUTH-004", "NF-TENANCY-001", "NF-TENANCY-003", "NF-INPUT-006"),
        studio="Tenant settings: members",
    ),
)
def add_membership(
    tenant: TenantPath, body: schemas.MembershipIn, engine: EngineDep, principal: PrincipalDep
) -> dict:
    return service.add_membership(
        engine,
        principal,
        tenant_id=tenant,
        email=body.email,
        role=body.role,
        project_id=body.project_id,
    )


@router.get(
    "/tenants/{tenant}/memberships",
    response_model=list[schemas.MembershipOut],
    summary="Members of a tenant",
    **route(
        role="owner (tenant-wide)",
        errors=("NF-AUTH-004", "NF-TENANCY-001", "NF-INPUT-006"),
        studio="Tenant settings: members",
    ),
)
def list_memberships(
    tenant: TenantPath,
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    page: PageDep,
) -> list:
    rows, nxt = service.list_memberships(engine, principal, tenant, page.limit, page.cursor)
    link_next(request, response, nxt)
    return rows


@router.delete(
    "/tenants/{tenant}/memberships/{membership_id}",
    response_model=schemas.MembershipOut,
    summary="Remove a membership (the tenant's last owner cannot be removed)",
    **route(
        role="owner (tenant-wide)",
        errors=("NF-AUTH-004", "NF-TENANCY-001", "NF-TENANCY-003", "NF-INPUT-006", "NF-INPUT-010"),
        studio="Tenant settings: members",
    ),
)
def remove_membership(
    tenant: TenantPath, membership_id: uuid.UUID, engine: EngineDep, principal: PrincipalDep
) -> dict:
    return service.remove_membership(
        engine, principal, tenant_id=tenant, membership_id=membership_id
    )


@router.put(
    "/users/{user_id}/state",
    response_model=schemas.UserStateOut,
    summary="Disable a user (every credential ends at once) or enable them again",
    **route(
        role="operator",
        errors=("NF-AUTH-004", "NF-INPUT-010"),
        studio="Operator console: users",
    ),
)
def set_user_state(
    user_id: uuid.UUID, body: schemas.UserStateIn, engine: EngineDep, principal: PrincipalDep
) -> dict:
    return service.set_user_disabled(engine, principal, str(user_id), disabled=body.disabled)
