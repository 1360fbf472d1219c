"""Users, tenants, projects and memberships (who may do what where)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_gateway import auth
from nf_gateway.paging import paginate
from nf_gateway.principal import Need, Principal
from nf_gateway.service.common import check_email, clean_text, parse_uuid, require_project, utcnow
from nf_services import submissions
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import MemberRole
from shared.slugs import validate_slug

T = Base.metadata.tables


def create_user(
    engine: Engine,
    principal: Principal,
    *,
    email: str,
    password: str,
    display_name: str | None = None,
    is_operator: bool = False,
) -> dict[str, Any]:
    principal.require_operator()
    email = check_email(email)
    display_name = clean_text(display_name, "display name", 200)
    pw_hash = auth.hash_password(password)
    users = T["users"]
    with engine.begin() as conn:
        row = conn.execute(
            pg_insert(users)
            .values(
                id=uuid.uuid4(),
                email=email,
                password_hash=pw_hash,
                display_name=display_name,
                is_operator=bool(is_operator),
            )
            .on_conflict_do_nothing()
            .returning(users.c.id, users.c.email, users.c.is_operator, users.c.created_at)
        ).first()
        if row is None:  # an invitation (add_membership of an unknown e-mail) is claimed
            row = conn.execute(
                update(users)
                .where(func.lower(users.c.email) == email, users.c.password_hash == INVITED_HASH)
                .values(
                    password_hash=pw_hash,
                    display_name=display_name,
                    is_operator=bool(is_operator),
                    disabled_at=None,
                    updated_at=utcnow(),
                )
                .returning(users.c.id, users.c.email, users.c.is_operator, users.c.created_at)
            ).first()
    if row is None:
        raise NFError("NF-DB-002", f"a user with e-mail {email} exists")
    return dict(row._mapping)


def create_tenant(
    engine: Engine, principal: Principal, *, tenant_id: str, name: str | None = None
) -> dict[str, Any]:
    principal.require_operator()
    validate_slug(tenant_id, "tenant")
    name = clean_text(name, "tenant name", 200) or tenant_id
    tenants = T["tenants"]
    with submissions.scoped(engine, None) as conn:
        row = conn.execute(
            pg_insert(tenants)
            .values(id=tenant_id, name=name)
            .on_conflict_do_nothing()
            .returning(tenants.c.id, tenants.c.name, tenants.c.created_at)
        ).first()
    if row is None:
        raise NFError("NF-DB-002", f"tenant {tenant_id} exists")
    return dict(row._mapping)


def create_project(
    engine: Engine,
    principal: Principal,
    *,
    tenant_id: str,
    project_id: str,
    name: str | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    validate_slug(tenant_id, "tenant")
    validate_slug(project_id, "project")
    principal.check(tenant_id, None, Need.ADMIN)
    name = clean_text(name, "project name", 200) or project_id
    config = submissions.canonical_params(config, "config")
    projects, tenants = T["projects"], T["tenants"]
    with submissions.scoped(engine, principal.scope()) as conn:
        if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
            raise NFError("NF-TENANCY-001", f"no tenant {tenant_id} that you can access")
        row = conn.execute(
            pg_insert(projects)
            .values(tenant_id=tenant_id, id=project_id, name=name, config=config)
            .on_conflict_do_nothing()
            .returning(
                projects.c.tenant_id,
                projects.c.id,
                projects.c.name,
                projects.c.config,
                projects.c.created_at,
            )
        ).first()
    if row is None:
        raise NFError("NF-DB-002", f"project {tenant_id}/{project_id} exists")
    return {**dict(row._mapping), "config": submissions.readable_json(row.config, "config")}


def list_projects(
    engine: Engine,
    principal: Principal,
    tenant_id: str,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    validate_slug(tenant_id, "tenant")
    if not principal.sees_tenant(tenant_id):
        raise NFError("NF-TENANCY-001", f"no tenant {tenant_id} that you can access")
    projects, tenants = T["projects"], T["tenants"]
    stmt = select(
        projects.c.tenant_id,
        projects.c.id,
        projects.c.name,
        projects.c.config,
        projects.c.created_at,
    ).where(projects.c.tenant_id == tenant_id)
    if principal.level(tenant_id) == 0:  # project members see their projects only
        stmt = stmt.where(
            projects.c.id.in_([g.project_id for g in principal.grants if g.tenant_id == tenant_id])
        )
    with submissions.scoped(engine, principal.scope()) as conn:
        if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is None:
            raise NFError("NF-TENANCY-001", f"no tenant {tenant_id} that you can access")
        rows, nxt = paginate(conn, stmt, (projects.c.id,), limit, cursor)
    return [
        {**dict(r._mapping), "config": submissions.readable_json(r.config, "config")}
        for r in rows
        if principal.can(tenant_id, r.id)
    ], nxt


def add_membership(
    engine: Engine,
    principal: Principal,
    *,
    tenant_id: str,
    email: str,
    role: str,
    project_id: str | None = None,
) -> dict[str, Any]:
    """Give a user a role in the tenant (or one project of it); re-adding updates the role."""
    validate_slug(tenant_id, "tenant")
    if project_id is not None:
        validate_slug(project_id, "project")
    principal.check(tenant_id, None, Need.ADMIN)
    try:
        member_role = MemberRole(role)
    except ValueError:
        raise NFError(
            "NF-INPUT-001", f"role must be one of {[r.value for r in MemberRole]}"
        ) from None
    members = T["memberships"]
    with submissions.scoped(engine, principal.scope()) as conn:
        if project_id is not None:
            require_project(conn, tenant_id, project_id)
        elif (
            conn.execute(select(T["tenants"].c.id).where(T["tenants"].c.id == tenant_id)).first()
            is None
        ):
            raise NFError("NF-TENANCY-001", f"no tenant {tenant_id} that you can access")
        user_id = _user_or_invitation(conn, email)
        if member_role != MemberRole.OWNER and project_id is None:
            _keep_an_owner(conn, tenant_id, [user_id])
        stmt = pg_insert(members).values(
            id=uuid.uuid4(),
            user_id=user_id,
            tenant_id=tenant_id,
            project_id=project_id,
            role=member_role,
        )
        row = conn.execute(
            stmt.on_conflict_do_update(
                constraint="uq_memberships_user_scope",
                set_={"role": stmt.excluded.role, "updated_at": utcnow()},
            ).returning(
                members.c.id,
                members.c.tenant_id,
                members.c.project_id,
                members.c.role,
                members.c.created_at,
            )
        ).first()
    return {**dict(row._mapping), "email": check_email(email), "role": row.role.value}


INVITED_HASH = "invited"  # the password hash of an invited user: no password matches it


def _user_or_invitation(conn: Connection, email: str) -> Any:
    """The user with this e-mail or, if there is none, a new invited user (disabled, no
    password) that `create_user` later claims. Adding a membership answers the same either way,
    so it does not reveal which e-mail addresses have accounts on the platform."""
    users = T["users"]
    address = check_email(email)
    found = conn.execute(select(users.c.id).where(func.lower(users.c.email) == address)).scalar()
    if found is not None:
        return found
    conn.execute(
        pg_insert(users)
        .values(
            id=uuid.uuid4(),
            email=address,
            password_hash=INVITED_HASH,
            disabled_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    return conn.execute(select(users.c.id).where(func.lower(users.c.email) == address)).scalar()


def _keep_an_owner(conn: Connection, tenant_id: str, losing: list[Any]) -> None:
    """NF-TENANCY-003 if removing the tenant-wide owner role from `losing` leaves no enabled
    tenant-wide owner. The tenant's owner rows are locked, so two owners demoting each other
    concurrently cannot both succeed."""
    members, users = T["memberships"], T["users"]
    owners = (
        conn.execute(
            select(members.c.user_id)
            .join(users, users.c.id == members.c.user_id)
            .where(
                members.c.tenant_id == tenant_id,
                members.c.project_id.is_(None),
                members.c.role == MemberRole.OWNER,
                users.c.disabled_at.is_(None),
            )
            .with_for_update(of=members)
        )
        .scalars()
        .all()
    )
    if owners and not set(owners) - set(losing):
        raise NFError(
            "NF-TENANCY-003", f"tenant {tenant_id} would have no owner left; add another first"
        )


def remove_membership(
    engine: Engine, principal: Principal, *, tenant_id: str, membership_id: Any
) -> dict[str, Any]:
    """(tenant owner) Remove a membership; the last tenant-wide owner cannot be removed."""
    validate_slug(tenant_id, "tenant")
    principal.check(tenant_id, None, Need.ADMIN)
    mid = parse_uuid(membership_id, "membership")
    members, users = T["memberships"], T["users"]
    with submissions.scoped(engine, principal.scope()) as conn:
        row = conn.execute(
            select(
                members.c.id,
                members.c.user_id,
                members.c.tenant_id,
                members.c.project_id,
                members.c.role,
                members.c.created_at,
                users.c.email,
            )
            .join(users, users.c.id == members.c.user_id)
            .where(members.c.id == mid, members.c.tenant_id == tenant_id)
        ).first()
        if row is None:
            raise NFError("NF-INPUT-010", f"no membership {mid} in {tenant_id}")
        if row.role == MemberRole.OWNER and row.project_id is None:
            _keep_an_owner(conn, tenant_id, [row.user_id])
        conn.execute(members.delete().where(members.c.id == mid))
    out = {k: v for k, v in row._mapping.items() if k != "user_id"}
    return {**out, "role": row.role.value}


def list_memberships(
    engine: Engine,
    principal: Principal,
    tenant_id: str,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list[dict], str | None]:
    validate_slug(tenant_id, "tenant")
    principal.check(tenant_id, None, Need.ADMIN)
    users, members = T["users"], T["memberships"]
    stmt = (
        select(
            members.c.id,
            members.c.tenant_id,
            members.c.project_id,
            members.c.role,
            members.c.created_at,
            users.c.email,
        )
        .join(users, users.c.id == members.c.user_id)
        .where(members.c.tenant_id == tenant_id)
    )
    with submissions.scoped(engine, principal.scope()) as conn:
        rows, nxt = paginate(conn, stmt, (users.c.email, members.c.id), limit, cursor)
    return [{**dict(r._mapping), "role": r.role.value} for r in rows], nxt
