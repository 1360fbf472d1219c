"""Who may act on governance objects: a user's role in a tenant/project, from memberships.

An actor is a user's email or id. Operators (`users.is_operator`) act as owners everywhere.
`SYSTEM` is the automation (SKILL_17 decisions, schedules): it may draft and submit proposals and
run experiments, never approve, promote or roll back - those stay with people.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Connection, func, or_, select

from shared.errors import NFError
from shared.models import Base
from shared.models.enums import MemberRole

T = Base.metadata.tables

SYSTEM = "system"
_RANK = {MemberRole.VIEWER: 1, MemberRole.EDITOR: 2, MemberRole.OWNER: 3}


def _user_row(conn: Connection, actor: str):
    users = T["users"]
    try:
        cond = users.c.id == uuid.UUID(actor)
    except ValueError:
        cond = func.lower(users.c.email) == actor.strip().lower()
    return conn.execute(
        select(users.c.id, users.c.email, users.c.is_operator, users.c.disabled_at).where(cond)
    ).first()


def role_of(conn: Connection, actor: str, tenant_id: str, project_id: str) -> MemberRole | None:
    """The highest role `actor` holds in the project (tenant-wide memberships count)."""
    user = _user_row(conn, actor)
    if user is None or user.disabled_at is not None:
        return None
    if user.is_operator:
        return MemberRole.OWNER
    m = T["memberships"]
    roles = conn.execute(
        select(m.c.role).where(
            m.c.user_id == user.id,
            m.c.tenant_id == tenant_id,
            or_(m.c.project_id.is_(None), m.c.project_id == project_id),
        )
    ).scalars()
    best = max((MemberRole(r) for r in roles), key=_RANK.__getitem__, default=None)
    return best


def actor_name(conn: Connection, actor: str) -> str:
    """How an actor is written into rows: the user's email, or `system`."""
    if actor == SYSTEM:
        return SYSTEM
    user = _user_row(conn, actor)
    return user.email if user is not None else actor


def require_role(
    conn: Connection,
    actor: str,
    tenant_id: str,
    project_id: str,
    allowed: frozenset[MemberRole],
    action: str,
    *,
    system_allowed: bool = False,
) -> str:
    """The actor's recorded name if they may do `action`, else NF-AUTH-004 saying why not."""
    if actor == SYSTEM:
        if system_allowed:
            return SYSTEM
        raise NFError("NF-AUTH-004", f"automation may not {action}; a person must", action=action)
    role = role_of(conn, actor, tenant_id, project_id)
    if role is None or role not in allowed:
        need = "/".join(sorted(r.value for r in allowed))
        have = role.value if role else "no role"
        raise NFError(
            "NF-AUTH-004",
            f"{actor} has {have} in {tenant_id}/{project_id}; {action} needs {need}",
            action=action,
            role=have,
        )
    return actor_name(conn, actor)
