"""Who is calling and what they may do: the principal behind a token and its role checks.

Roles, weakest first: viewer (read), editor (read + upload/submit/feedback), owner (+ manage the
tenant's projects and memberships). A membership with project_id NULL applies to every project of
its tenant. Operators act across tenants (create tenants and users, read anything).

A caller with no role in a tenant/project gets NF-TENANCY-001 (404): another tenant's names and
ids are indistinguishable from ones that do not exist. A caller with a role too weak for the
action gets NF-AUTH-004 (403).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from sqlalchemy import Engine, text

from nf_gateway import auth
from shared.errors import NFError
from shared.models.enums import MemberRole


class Need(IntEnum):
    READ = 1
    WRITE = 2
    ADMIN = 3


ROLE_LEVEL = {
    MemberRole.VIEWER: Need.READ,
    MemberRole.EDITOR: Need.WRITE,
    MemberRole.OWNER: Need.ADMIN,
}


@dataclass(frozen=True)
class Grant:
    tenant_id: str
    project_id: str | None  # None: every project of the tenant
    role: MemberRole


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    email: str
    is_operator: bool = False
    grants: tuple[Grant, ...] = ()
    token_id: uuid.UUID | None = None  # the API token used, if any
    token_tenant: str | None = None  # an API token bound to one tenant
    token_expires_at: datetime | None = None  # the API token's expiry (caps its children)
    session_jti: str | None = None  # the access token used, if any (logout ends it)
    session_expires_at: int | None = None

    # -- role arithmetic -------------------------------------------------------------------
    def level(self, tenant_id: str, project_id: str | None = None) -> int:
        """0 = no role. project_id None: tenant-wide grants only."""
        if self.token_tenant and tenant_id != self.token_tenant:
            return 0
        if self.is_operator:
            return int(Need.ADMIN)
        best = 0
        for g in self.grants:
            if g.tenant_id != tenant_id:
                continue
            if g.project_id is None or (project_id is not None and g.project_id == project_id):
                best = max(best, int(ROLE_LEVEL[g.role]))
        return best

    def sees_tenant(self, tenant_id: str) -> bool:
        """Any role anywhere in the tenant (a project member may list what it can see)."""
        if self.token_tenant and tenant_id != self.token_tenant:
            return False
        return self.is_operator or any(g.tenant_id == tenant_id for g in self.grants)

    def check(self, tenant_id: str, project_id: str | None, need: Need) -> None:
        level = self.level(tenant_id, project_id)
        if level == 0:
            raise NFError(
                "NF-TENANCY-001",
                f"no tenant/project {tenant_id}/{project_id or '*'} that you can access",
            )
        if level < need:
            raise NFError(
                "NF-AUTH-004", f"your role in {tenant_id} does not allow {need.name.lower()}"
            )

    def can(self, tenant_id: str, project_id: str | None, need: Need = Need.READ) -> bool:
        return self.level(tenant_id, project_id) >= need

    def require_operator(self) -> None:
        if not self.is_operator or self.token_tenant:
            raise NFError("NF-AUTH-004", "only an operator (with an unbound token) may do this")

    def scope(self) -> list[str] | None:
        """Tenants for row-level security; None = operator role (all tenants)."""
        if self.token_tenant:
            return [self.token_tenant]
        if self.is_operator:
            return None
        return sorted({g.tenant_id for g in self.grants})


# -- loading ---------------------------------------------------------------------------------
_USER_SQL = """
SELECT u.id, u.email, u.is_operator, u.disabled_at, u.sessions_revoked_at,
       EXISTS (SELECT 1 FROM revoked_access_tokens r WHERE r.jti = :jti) AS jti_revoked,
       coalesce(json_agg(json_build_array(m.tenant_id, m.project_id, m.role))
                FILTER (WHERE m.id IS NOT NULL), '[]'::json) AS grants
FROM users u LEFT JOIN memberships m ON m.user_id = u.id
WHERE u.id = :uid
GROUP BY u.id
"""

_TOKEN_SQL = """
SELECT t.id AS token_id, t.user_id, t.tenant_id AS token_tenant, t.expires_at, t.revoked_at,
       t.last_used_at
FROM api_tokens t WHERE t.token_hash = :h
"""

# How stale api_tokens.last_used_at may get: one write per token per minute, not per call.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def load_principal(engine: Engine, token: str) -> Principal:
    """The principal behind a bearer token (access or API token), or NF-AUTH-00x.

    Runs as the table owner, without row-level security: authentication precedes any tenant
    scope (users, api_tokens and revoked_access_tokens have no tenant; the memberships read
    here are the caller's own, selected by user id).
    """
    if not token:
        raise NFError("NF-AUTH-002", "an Authorization: Bearer token is required")
    now = datetime.now(UTC)
    token_id = token_tenant = token_expires = claims = None
    with engine.begin() as conn:
        if auth.is_api_token(token):
            row = conn.execute(text(_TOKEN_SQL), {"h": auth.hash_api_token(token)}).first()
            if row is None:
                raise NFError("NF-AUTH-002", "unknown API token")
            if row.revoked_at is not None:
                raise NFError("NF-AUTH-003", f"API token {row.token_id} was revoked")
            if row.expires_at is not None and row.expires_at <= now:
                raise NFError("NF-AUTH-002", f"API token {row.token_id} expired")
            user_id, token_id, token_tenant = row.user_id, row.token_id, row.token_tenant
            token_expires = row.expires_at
            if row.last_used_at is None or now - row.last_used_at > LAST_USED_GRANULARITY:
                conn.execute(
                    text("UPDATE api_tokens SET last_used_at = :now WHERE id = :id"),
                    {"now": now, "id": token_id},
                )
        else:
            claims = auth.verify_access_token(token)
            try:
                user_id = uuid.UUID(claims.user_id)
            except ValueError:
                raise NFError("NF-AUTH-002", "malformed access token subject") from None
        jti = claims.jti if claims is not None else ""
        user = conn.execute(text(_USER_SQL), {"uid": user_id, "jti": jti}).first()
    if user is None or user.disabled_at is not None:
        raise NFError("NF-AUTH-002", "the account does not exist or is disabled")
    if claims is not None:
        if user.jti_revoked:
            raise NFError("NF-AUTH-003", "this session was logged out")
        ended = user.sessions_revoked_at
        if ended is not None and claims.issued_ms < int(ended.timestamp() * 1000):
            raise NFError("NF-AUTH-003", "this session was ended (password change or logout)")
    grants = tuple(
        Grant(t, p, MemberRole(r))
        for t, p, r in user.grants
        if token_tenant is None or t == token_tenant
    )
    return Principal(
        user_id=user.id,
        email=user.email,
        is_operator=bool(user.is_operator),
        grants=grants,
        token_id=token_id,
        token_tenant=token_tenant,
        token_expires_at=token_expires,
        session_jti=claims.jti if claims is not None else None,
        session_expires_at=claims.expires_at if claims is not None else None,
    )


def system_operator() -> Principal:
    """The CLI's identity: an operator acting with direct database access."""
    return Principal(user_id=uuid.UUID(int=0), email="cli@localhost", is_operator=True)
