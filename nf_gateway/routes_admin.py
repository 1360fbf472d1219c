"""Users, tenants, projects and memberships."""

from __future__ import annotations

from fastapi import APIRouter

from nf_gateway import schemas, service
from nf_gateway.deps import EngineDep, PrincipalDep
from nf_gateway.meta import route

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
    tenant: str, body: schemas.ProjectIn, engine: EngineDep, principal: PrincipalDep
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
def list_projects(tenant: str, engine: EngineDep, principal: PrincipalDep) -> list:
    return service.list_projects(engine, principal, tenant)


@router.post(
    "/tenants/{tenant}/memberships",
    response_model=schemas.MembershipOut,
    summary="Give a user a role in the tenant or one of its projects (upsert)",
    **route(
        role="owner (tenant-wide)",
        errors=("NF-AUTH-004", "NF-TENANCY-001", "NF-INPUT-010", "NF-INPUT-006"),
        studio="Tenant settings: members",
    ),
)
def add_membership(
    tenant: str, body: schemas.MembershipIn, engine: EngineDep, principal: PrincipalDep
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
def list_memberships(tenant: str, engine: EngineDep, principal: PrincipalDep) -> list:
    return service.list_memberships(engine, principal, tenant)
