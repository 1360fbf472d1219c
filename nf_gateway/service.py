"""What the gateway and the CLI do, as plain functions of (engine, principal, input).

HTTP routes and CLI commands are thin wrappers over these, so both enforce the same rules and
return the same error codes. Every read or write of tenant data runs in `scoped(...)`: the
gateway's role checks come first, PostgreSQL row-level security underneath (a query that forgot
its tenant filter still sees only the caller's tenants).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Text, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_gateway import auth, schemas
from nf_gateway.paging import paginate
from nf_gateway.principal import Need, Principal
from nf_services import admission, submissions
from shared.config import get_settings
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import MemberRole, RequestStatus, RunStatus
from shared.slugs import SLUG_RE, slugify, validate_slug
from shared.storage import ArtifactStore

T = Base.metadata.tables
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@\s\x00-\x1f\x7f-\x9f]{1,190}$")


def _now() -> datetime:
    return datetime.now(UTC)


# Characters never allowed in names and titles: every control (Cc: CR, LF and TAB too), format
# character (Cf: bidi overrides and isolates such as U+202E, zero-width space/joiners, BOM),
# line/paragraph separator, surrogate and private-use code point of the BMP. Comments are
# multi-line: TAB, LF and CR are allowed there, and ZWJ/ZWNJ (emoji, Indic and Persian text),
# but no other control and no bidi control. The classes are the ones the OpenAPI schema
# publishes as patterns (nf_gateway.schemas), so a client can check a name before sending it.
_NAME_BAD_RE = re.compile(f"[{schemas.NAME_BAD}\\ud800-\\udfff]")
_COMMENT_BAD_RE = re.compile(f"[{schemas.COMMENT_BAD}\\ud800-\\udfff]")


def _bad_char(value: str, multiline: bool) -> str | None:
    if value.isascii() and value.isprintable():
        return None
    bad = (_COMMENT_BAD_RE if multiline else _NAME_BAD_RE).search(value)
    return bad.group() if bad else None


def clean_text(
    value: str | None, what: str, max_len: int, *, required: bool = False, multiline: bool = False
) -> str | None:
    """Free text (titles, names, comments): bounded length, no control, format (bidi,
    zero-width), separator, surrogate, private-use or unassigned characters (NF-INPUT-006).
    `multiline` (comments) allows TAB/CR/LF and the zero-width joiners."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise NFError("NF-INPUT-001", f"{what} is required")
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise NFError("NF-INPUT-006", f"{what} must be a string of at most {max_len} characters")
    bad = _bad_char(value, multiline)
    if bad is not None:
        raise NFError(
            "NF-INPUT-006",
            f"{what} must not contain control, bidi or zero-width characters (U+{ord(bad):04X})",
        )
    return value.strip()


def _email(value: str) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise NFError("NF-INPUT-001", "a valid e-mail address is required")
    return value.strip().lower()


def _uuid(value: Any, what: str = "id") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NFError("NF-INPUT-010", f"no {what} {value!r}") from None


def _project_exists(conn: Connection, tenant_id: str, project_id: str) -> None:
    p = T["projects"]
    found = conn.execute(
        select(p.c.id).where(p.c.tenant_id == tenant_id, p.c.id == project_id)
    ).first()
    if found is None:
        raise NFError("NF-TENANCY-001", f"no project {tenant_id}/{project_id} that you can access")


def _authorize_project(principal: Principal, tenant_id: str, project_id: str, need: Need) -> None:
    validate_slug(tenant_id, "tenant")
    validate_slug(project_id, "project")
    principal.check(tenant_id, project_id, need)


# -- auth -----------------------------------------------------------------------------------
def login(engine: Engine, email: str, password: str) -> dict[str, Any]:
    """An access token for a valid e-mail and password (NF-AUTH-001 otherwise, same timing)."""
    users = T["users"]
    email_key = email.strip().lower() if isinstance(email, str) else ""
    with engine.connect() as conn:
        row = conn.execute(
            select(users.c.id, users.c.password_hash, users.c.disabled_at).where(
                func.lower(users.c.email) == email_key
            )
        ).first()
    ok = auth.verify_password(password or "", row.password_hash if row else None)
    if not ok or row is None or row.disabled_at is not None:
        raise NFError("NF-AUTH-001")
    return _issue(row.id)


def whoami(principal: Principal) -> dict[str, Any]:
    return {
        "user_id": principal.user_id,
        "email": principal.email,
        "is_operator": principal.is_operator,
        "token_id": principal.token_id,
        "token_tenant": principal.token_tenant,
        "memberships": [
            {"tenant_id": g.tenant_id, "project_id": g.project_id, "role": g.role.value}
            for g in principal.grants
        ],
    }


def _token_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "tenant_id": row.tenant_id,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "last_used_at": row.last_used_at,
        "created_at": row.created_at,
    }


def create_api_token(
    engine: Engine,
    principal: Principal,
    *,
    name: str,
    tenant_id: str | None = None,
    expires_in_days: int | None = 90,
    user_email: str | None = None,
) -> dict[str, Any]:
    """A revocable API token for the caller (operators: for any user by e-mail). The secret
    appears only in this response; only its hash is stored.

    Lifetime: `expires_in_days` (None: the maximum, Settings.api_token_max_days); never longer
    than the maximum and, for a token created with an API token (its parent), never past the
    parent's expiry; the child is bound to the parent's tenant and revoked with it. At most
    Settings.api_token_max_per_user active tokens per user (NF-AUTH-006).
    """
    settings = get_settings()
    max_days = settings.api_token_max_days
    name = clean_text(name, "token name", 100, required=True)
    if expires_in_days is None:
        expires_in_days = max_days
    if isinstance(expires_in_days, bool) or not 1 <= expires_in_days <= max_days:
        raise NFError("NF-INPUT-001", f"expires_in_days must be 1-{max_days}")
    users, tokens = T["users"], T["api_tokens"]
    expires = _now() + timedelta(days=expires_in_days)
    parent_id = None
    if principal.token_id is not None:  # created with an API token: it is the parent
        parent_id = principal.token_id
        if principal.token_expires_at is not None:
            expires = min(expires, principal.token_expires_at)
    with engine.begin() as conn:
        user_id = principal.user_id
        if user_email is not None:
            principal.require_operator()
            user_id = conn.execute(
                select(users.c.id).where(func.lower(users.c.email) == _email(user_email))
            ).scalar()
            if user_id is None:
                raise NFError("NF-INPUT-010", f"no user {user_email}")
            parent_id = None if user_id != principal.user_id else parent_id
        if principal.token_tenant and tenant_id != principal.token_tenant:
            # A tenant-bound token cannot mint a broader one.
            tenant_id = principal.token_tenant
        if tenant_id is not None:
            validate_slug(tenant_id, "tenant")
            if user_email is None and not principal.sees_tenant(tenant_id):
                raise NFError("NF-TENANCY-001", f"no tenant {tenant_id} that you can access")
            if not conn.execute(
                select(T["tenants"].c.id).where(T["tenants"].c.id == tenant_id)
            ).first():
                raise NFError("NF-TENANCY-001", f"no tenant {tenant_id} that you can access")
        # Serialize token creation per user (the cap cannot be raced past).
        conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
        active = conn.execute(
            select(func.count())
            .select_from(tokens)
            .where(
                tokens.c.user_id == user_id,
                tokens.c.revoked_at.is_(None),
                or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > _now()),
            )
        ).scalar()
        if active >= settings.api_token_max_per_user:
            raise NFError(
                "NF-AUTH-006",
                f"{active} active API tokens (limit {settings.api_token_max_per_user}); "
                "revoke one first",
            )
        new = auth.new_api_token()
        row = conn.execute(
            pg_insert(tokens)
            .values(
                id=uuid.uuid4(),
                user_id=user_id,
                tenant_id=tenant_id,
                parent_id=parent_id,
                name=name,
                token_hash=new.token_hash,
                prefix=new.prefix,
                expires_at=expires,
            )
            .returning(*tokens.c)
        ).first()
    return {**_token_view(row), "token": new.token}


def list_api_tokens(
    engine: Engine, principal: Principal, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    tokens = T["api_tokens"]
    with engine.connect() as conn:
        rows = paginate(
            conn,
            select(tokens).where(tokens.c.user_id == principal.user_id),
            (tokens.c.created_at, tokens.c.id),
            limit,
            cursor,
        )
    return [_token_view(r) for r in rows[0]], rows[1]


def _revoke_tree(conn: Connection, token_ids: list[Any]) -> None:
    """Revoke tokens and every descendant (children created with them, recursively)."""
    conn.execute(
        text(
            """
            WITH RECURSIVE tree AS (
                SELECT id FROM api_tokens WHERE id = ANY(:ids)
                UNION
                SELECT t.id FROM api_tokens t JOIN tree ON t.parent_id = tree.id
            )
            UPDATE api_tokens SET revoked_at = now(), updated_at = now()
            WHERE id IN (SELECT id FROM tree) AND revoked_at IS NULL
            """
        ),
        {"ids": list(token_ids)},
    )


def revoke_api_token(engine: Engine, principal: Principal, token_id: Any) -> dict[str, Any]:
    """Revoke one of the caller's tokens (operators: anyone's) and the tokens created with it.
    Idempotent: revoking twice keeps the first revocation time. Someone else's token id is
    NF-INPUT-010, like a missing one."""
    tid = _uuid(token_id, "token")
    tokens = T["api_tokens"]
    cond = [tokens.c.id == tid]
    if not (principal.is_operator and not principal.token_tenant):
        cond.append(tokens.c.user_id == principal.user_id)
    with engine.begin() as conn:
        row = conn.execute(select(tokens.c.id).where(*cond)).first()
        if row is None:
            raise NFError("NF-INPUT-010", f"no API token {tid}")
        _revoke_tree(conn, [tid])
        row = conn.execute(select(tokens).where(*cond)).first()
    return _token_view(row)


def logout(engine: Engine, principal: Principal, *, everywhere: bool = False) -> dict[str, Any]:
    """End the credential of this call: an access token (its jti is refused until it expires)
    or an API token (revoked with its children). `everywhere`: every access token of the user
    (sessions_revoked_at) and, when called with an API token, that token too."""
    now = _now()
    with engine.begin() as conn:
        if principal.session_jti:
            conn.execute(
                pg_insert(T["revoked_access_tokens"])
                .values(
                    jti=principal.session_jti,
                    user_id=principal.user_id,
                    expires_at=datetime.fromtimestamp(principal.session_expires_at or 0, UTC),
                )
                .on_conflict_do_nothing()
            )
            # Tidy up: denylist entries of expired tokens are no longer needed.
            conn.execute(
                T["revoked_access_tokens"]
                .delete()
                .where(T["revoked_access_tokens"].c.expires_at < now)
            )
        if principal.token_id is not None:
            _revoke_tree(conn, [principal.token_id])
        if everywhere:
            conn.execute(
                update(T["users"])
                .where(T["users"].c.id == principal.user_id)
                .values(sessions_revoked_at=now, updated_at=now)
            )
    return {"logged_out": True, "everywhere": everywhere}


def change_password(
    engine: Engine, principal: Principal, *, current_password: str, new_password: str
) -> dict[str, Any]:
    """Change the caller's password (the current one is required); every access token issued
    before is ended. API tokens are separate credentials and stay (revoke them on their own)."""
    users = T["users"]
    with engine.connect() as conn:
        stored = conn.execute(
            select(users.c.password_hash).where(users.c.id == principal.user_id)
        ).scalar()
    if not auth.verify_password(current_password or "", stored):
        raise NFError("NF-AUTH-001", "the current password is wrong")
    pw_hash = auth.hash_password(new_password)
    now = _now()
    with engine.begin() as conn:
        conn.execute(
            update(users)
            .where(users.c.id == principal.user_id)
            .values(password_hash=pw_hash, sessions_revoked_at=now, updated_at=now)
        )
    return _issue(principal.user_id)


def set_user_disabled(
    engine: Engine, principal: Principal, user: str, *, disabled: bool = True
) -> dict[str, Any]:
    """(operator) Disable a user (every credential stops working at once: access tokens ended,
    API tokens revoked) or enable them again. `user`: id or e-mail."""
    principal.require_operator()
    users = T["users"]
    now = _now()
    cond = (
        users.c.id == _uuid(user, "user")
        if "@" not in str(user)
        else func.lower(users.c.email) == _email(user)
    )
    if disabled and "@" not in str(user) and _uuid(user) == principal.user_id:
        raise NFError("NF-AUTH-004", "you cannot disable yourself")
    with engine.begin() as conn:
        values: dict[str, Any] = {"disabled_at": now if disabled else None, "updated_at": now}
        if disabled:
            values["sessions_revoked_at"] = now
        row = conn.execute(
            update(users)
            .where(cond)
            .values(**values)
            .returning(users.c.id, users.c.email, users.c.is_operator, users.c.created_at)
        ).first()
        if row is None:
            raise NFError("NF-INPUT-010", f"no user {user}")
        if disabled:
            t = T["api_tokens"]
            ids = conn.execute(
                select(t.c.id).where(t.c.user_id == row.id, t.c.revoked_at.is_(None))
            ).scalars()
            _revoke_tree(conn, list(ids))
    return {**dict(row._mapping), "disabled": disabled}


def reset_password(engine: Engine, principal: Principal, user: str, password: str) -> dict:
    """(operator) Set a user's password; ends their sessions (access tokens)."""
    principal.require_operator()
    users = T["users"]
    pw_hash = auth.hash_password(password)
    now = _now()
    with engine.begin() as conn:
        row = conn.execute(
            update(users)
            .where(func.lower(users.c.email) == _email(user))
            .values(password_hash=pw_hash, sessions_revoked_at=now, updated_at=now)
            .returning(users.c.id, users.c.email)
        ).first()
    if row is None:
        raise NFError("NF-INPUT-010", f"no user {user}")
    return {"id": row.id, "email": row.email, "sessions_ended": True}


def maintain(engine: Engine, *, apply: bool = False, batch: int = 500) -> dict[str, Any]:
    """Operator repair (`nf gateway repair`): find stored request params and project configs
    that reads cannot return as stored (nested deeper than READ_MAX_DEPTH, e.g. written before
    the limits) and, with `apply`, replace them with a marker object; purge logout entries of
    access tokens that have expired anyway. Runs as the table owner (across tenants)."""
    found: list[dict[str, Any]] = []
    for table, column, key in (
        ("execution_requests", "params", ("id",)),
        ("projects", "config", ("tenant_id", "id")),
    ):
        t = T[table]
        with engine.connect() as conn:
            # Cheap prefilter in SQL: a value this deep has at least READ_MAX_DEPTH brackets.
            rows = conn.execute(
                select(*[t.c[k] for k in key], t.c[column]).where(
                    func.length(t.c[column].cast(Text)) > 2 * submissions.READ_MAX_DEPTH
                )
            ).yield_per(batch)
            for r in rows:
                value = getattr(r, column)
                if submissions.readable_json(value, column) is not value:
                    found.append({"table": table, "key": [str(getattr(r, k)) for k in key]})
        if apply:
            with engine.begin() as conn:
                for f in found:
                    if f["table"] != table:
                        continue
                    where = [t.c[k] == v for k, v in zip(key, f["key"], strict=True)]
                    conn.execute(
                        update(t)
                        .where(*where)
                        .values(
                            {
                                column: {
                                    "_nf_repaired": f"{column} nested deeper than "
                                    f"{submissions.READ_MAX_DEPTH} levels was removed by "
                                    "`nf gateway repair`"
                                }
                            }
                        )
                    )
    purged = 0
    if apply:
        r = T["revoked_access_tokens"]
        with engine.begin() as conn:
            purged = conn.execute(r.delete().where(r.c.expires_at < _now())).rowcount
    return {"unreadable": found, "repaired": len(found) if apply else 0, "purged": purged}


def _issue(user_id: Any) -> dict[str, Any]:
    token, exp = auth.issue_access_token(str(user_id))
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_at": datetime.fromtimestamp(exp, UTC),
        "user_id": user_id,
    }


# -- users, tenants, projects, memberships ---------------------------------------------------
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
    email = _email(email)
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
                    updated_at=_now(),
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
            _project_exists(conn, tenant_id, project_id)
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
                set_={"role": stmt.excluded.role, "updated_at": _now()},
            ).returning(
                members.c.id,
                members.c.tenant_id,
                members.c.project_id,
                members.c.role,
                members.c.created_at,
            )
        ).first()
    return {**dict(row._mapping), "email": _email(email), "role": row.role.value}


INVITED_HASH = "invited"  # the password hash of an invited user: no password matches it


def _user_or_invitation(conn: Connection, email: str) -> Any:
    """The user with this e-mail or, if there is none, a new invited user (disabled, no
    password) that `create_user` later claims. Adding a membership answers the same either way,
    so it does not reveal which e-mail addresses have accounts on the platform."""
    users = T["users"]
    address = _email(email)
    found = conn.execute(select(users.c.id).where(func.lower(users.c.email) == address)).scalar()
    if found is not None:
        return found
    conn.execute(
        pg_insert(users)
        .values(
            id=uuid.uuid4(),
            email=address,
            password_hash=INVITED_HASH,
            disabled_at=_now(),
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
    mid = _uuid(membership_id, "membership")
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


# -- novels and requests ----------------------------------------------------------------------
def upload_novel(
    engine: Engine,
    store: ArtifactStore,
    principal: Principal,
    *,
    tenant_id: str,
    project_id: str,
    data: bytes,
    trace_id: str,
    slug: str | None = None,
    title: str | None = None,
    filename: str | None = None,
    max_bytes: int | None = None,
    admit: Any = None,
) -> dict[str, Any]:
    """Admit (nf_services.admission: size, SKILL_01 decode, SKILL_02 split, chapter checks), store
    the bytes, register the novel. `max_bytes` defaults to Settings.upload_max_bytes.

    Everything that can refuse the upload runs before the first write; the admission's
    warnings come back in `warnings` ({code, message}). `admit`: the admission function (the
    gateway passes nf_gateway.offload.admit, which runs big files in a separate process).
    """
    _authorize_project(principal, tenant_id, project_id, Need.WRITE)
    title = clean_text(title, "title", 300)
    stem = None
    if filename:
        stem = re.sub(r"\.[A-Za-z0-9]{1,8}$", "", filename.replace("\\", "/").rsplit("/", 1)[-1])
        stem = clean_text(stem[:300], "file name", 300)
    if slug is None or slug == "":
        slug = slugify((title or stem or "").replace("_", "-"), fallback="")
        if not slug:
            slug = "novel-" + hashlib.sha256(data).hexdigest()[:12]
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise NFError("NF-INPUT-005", f"novel slug {slug!r} is not a valid partition part")
    with submissions.scoped(engine, principal.scope()) as conn:
        _project_exists(conn, tenant_id, project_id)
    admitted = (admit or admission.admit)(data, max_bytes)
    blob = store.put_bytes(data, "txt")
    with submissions.scoped(engine, principal.scope()) as conn:
        novel = submissions.register_upload(
            conn,
            tenant_id=tenant_id,
            project_id=project_id,
            slug=slug,
            title=title or stem or slug,
            source_sha256=blob.sha256,
            source_path=blob.path,
            trace_id=trace_id,
            language=admitted.language,
            encoding=admitted.encoding,
            char_count=admitted.chars,
            chapter_count=admitted.chapters,
        )
    return {
        "id": novel.id,
        "tenant_id": tenant_id,
        "project_id": project_id,
        "slug": novel.slug,
        "title": novel.title,
        "partition_key": novel.partition_key,
        "sha256": novel.source_sha256,
        "size_bytes": len(data),
        "encoding": admitted.encoding,
        "language": admitted.language,
        "chapters": admitted.chapters,
        "created": novel.created,
        "warnings": [w.to_dict() for w in admitted.warnings],
    }


def list_novels(
    engine: Engine,
    principal: Principal,
    tenant_id: str,
    project_id: str,
    limit: int = 100,
    cursor: str | None = None,
) -> tuple[list, str | None]:
    _authorize_project(principal, tenant_id, project_id, Need.READ)
    novels = T["novels"]
    stmt = select(
        novels.c.id,
        novels.c.slug,
        novels.c.title,
        novels.c.partition_key,
        novels.c.language,
        novels.c.chapter_count,
        novels.c.created_at,
    ).where(novels.c.tenant_id == tenant_id, novels.c.project_id == project_id)
    with submissions.scoped(engine, principal.scope()) as conn:
        _project_exists(conn, tenant_id, project_id)
        rows, nxt = paginate(conn, stmt, (novels.c.created_at, novels.c.id), limit, cursor)
    return [dict(r._mapping) for r in rows], nxt


CHAPTER_MEDIA = ("mp4", "srt", "vtt")


def list_chapters(
    engine: Engine,
    principal: Principal,
    tenant_id: str,
    project_id: str,
    novel: str,
    limit: int = 500,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A novel's chapters with their newest final media (video, subtitles) for the player."""
    _authorize_project(principal, tenant_id, project_id, Need.READ)
    key = str(submissions.novel_partition_key(tenant_id, project_id, novel))
    novels, chapters, arts = T["novels"], T["chapters"], T["artifacts"]
    with submissions.scoped(engine, principal.scope()) as conn:
        _project_exists(conn, tenant_id, project_id)
        novel_id = conn.execute(select(novels.c.id).where(novels.c.partition_key == key)).scalar()
        if novel_id is None:
            raise NFError("NF-INPUT-010", f"no novel {key}")
        rows, nxt = paginate(
            conn,
            select(chapters.c.id, chapters.c.index, chapters.c.title, chapters.c.char_count).where(
                chapters.c.novel_id == novel_id
            ),
            (chapters.c.index,),
            limit,
            cursor,
        )
        lo, hi = (rows[0].index, rows[-1].index) if rows else (0, -1)
        media = conn.execute(
            select(arts.c.id, arts.c.chapter_index, arts.c.kind, arts.c.mime, arts.c.size_bytes)
            .where(
                arts.c.novel_id == novel_id,
                arts.c.chapter_index.between(lo, hi),
                arts.c.kind.in_(CHAPTER_MEDIA),
            )
            .order_by(arts.c.created_at, arts.c.id)
        ).all()
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for m in media:  # ascending: the last one written wins
        latest[(m.chapter_index, m.kind)] = {
            "id": m.id,
            "kind": m.kind,
            "mime": m.mime,
            "size_bytes": m.size_bytes,
        }
    return [
        {
            **dict(r._mapping),
            "media": [latest[(r.index, k)] for k in CHAPTER_MEDIA if (r.index, k) in latest],
        }
        for r in rows
    ], nxt


def submit_request(
    engine: Engine,
    principal: Principal,
    *,
    tenant_id: str,
    project_id: str,
    novel: str,
    idempotency_key: str | None,
    trace_id: str,
    params: dict[str, Any] | None = None,
) -> submissions.Submitted:
    _authorize_project(principal, tenant_id, project_id, Need.WRITE)
    submissions.validate_idempotency_key(idempotency_key)
    with submissions.scoped(engine, principal.scope()) as conn:
        try:
            return submissions.create_execution_request(
                conn,
                tenant_id=tenant_id,
                project_id=project_id,
                novel=novel,
                idempotency_key=idempotency_key,
                trace_id=trace_id,
                params=params,
                requested_by=principal.user_id,
            )
        except NFError as exc:
            if exc.code == "NF-INPUT-010":  # no novel: maybe no project at all
                _project_exists(conn, tenant_id, project_id)
            raise


def request_status(engine: Engine, principal: Principal, request_id: Any) -> dict[str, Any]:
    """The request, with the live stage of its latest run while it runs."""
    rid = _uuid(request_id, "request")
    runs = T["render_runs"]
    with submissions.scoped(engine, principal.scope()) as conn:
        req = submissions.get_request(conn, rid)
        if not principal.can(req["tenant_id"], req["project_id"]):
            raise NFError("NF-INPUT-010", f"no request {rid}")
        run = conn.execute(
            select(
                runs.c.id,
                runs.c.dagster_run_id,
                runs.c.status,
                runs.c.stage,
                runs.c.error_code,
                runs.c.error_message,
                runs.c.started_at,
                runs.c.finished_at,
            )
            .where(runs.c.request_id == rid)
            .order_by(runs.c.created_at.desc(), runs.c.id)
            .limit(1)
        ).first()
    out = dict(req)
    out["run"] = dict(run._mapping) if run else None
    if (
        run is not None
        and out["status"] in ("claimed", "running")
        and run.status == RunStatus.STARTED
    ):
        out["status"], out["stage"] = "running", run.stage
    return out


def list_requests(
    engine: Engine,
    principal: Principal,
    tenant_id: str,
    project_id: str,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, `limit` per page (X-Next-Cursor for the next one)."""
    _authorize_project(principal, tenant_id, project_id, Need.READ)
    req = T["execution_requests"]
    with submissions.scoped(engine, principal.scope()) as conn:
        _project_exists(conn, tenant_id, project_id)
        rows, nxt = paginate(
            conn,
            select(*[req.c[c] for c in submissions.REQUEST_COLUMNS]).where(
                req.c.tenant_id == tenant_id, req.c.project_id == project_id
            ),
            (req.c.created_at, req.c.id),
            limit,
            cursor,
            descending=True,
        )
    return [submissions.request_view(r) for r in rows], nxt


def cancel_request(
    engine: Engine,
    principal: Principal,
    request_id: Any,
    *,
    terminate_run: Any = None,
) -> dict[str, Any]:
    """(editor) Cancel a request. Pending (not yet claimed): marked cancelled (NF-ORCH-003) at
    once, so the intake sensor never launches it. Claimed or running with a Dagster run:
    `terminate_run(dagster_run_id)` asks Dagster to end the run (its run-status sensor then
    settles the request as cancelled); without a Dagster instance the request is marked
    cancelled here. Finished requests are returned unchanged (idempotent)."""
    rid = _uuid(request_id, "request")
    req = T["execution_requests"]
    with submissions.scoped(engine, principal.scope()) as conn:
        row = conn.execute(
            select(req.c.tenant_id, req.c.project_id, req.c.status, req.c.dagster_run_id)
            .where(req.c.id == rid)
            .with_for_update()
        ).first()
        if row is None or not principal.can(row.tenant_id, row.project_id):
            raise NFError("NF-INPUT-010", f"no request {rid}")
        principal.check(row.tenant_id, row.project_id, Need.WRITE)
        status = str(getattr(row.status, "value", row.status))
        terminal = ("succeeded", "failed", "cancelled")
        asked_dagster = False
        if status not in terminal:
            if status != "pending" and row.dagster_run_id and terminate_run is not None:
                asked_dagster = bool(terminate_run(row.dagster_run_id))
            if not asked_dagster:
                conn.execute(
                    update(req)
                    .where(req.c.id == rid, req.c.status.notin_(terminal))
                    .values(
                        status=RequestStatus.CANCELLED,
                        error_code="NF-ORCH-003",
                        error_message=f"cancelled by {principal.email}",
                        finished_at=_now(),
                        updated_at=_now(),
                    )
                )
    out = request_status(engine, principal, rid)
    out["cancel_requested"] = asked_dagster
    return out


# -- traces and artifacts ---------------------------------------------------------------------
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
RUN_COLS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "request_id",
    "dagster_run_id",
    "partition_key",
    "status",
    "stage",
    "retries",
    "error_code",
    "error_message",
    "started_at",
    "finished_at",
)
JOB_COLS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "run_id",
    "chapter_index",
    "skill_id",
    "skill_version",
    "status",
    "stage",
    "attempt",
    "provider",
    "output_artifact_id",
    "error_code",
    "error_message",
    "duration_ms",
    "started_at",
    "finished_at",
)
ART_COLS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "job_id",
    "novel_id",
    "chapter_index",
    "kind",
    "mime",
    "sha256",
    "size_bytes",
    "skill_id",
    "skill_version",
    "created_at",
)
EVENT_COLS = (
    "id",
    "tenant_id",
    "project_id",
    "trace_id",
    "topic",
    "stage",
    "request_id",
    "run_id",
    "job_id",
    "error_code",
    "error_message",
    "payload",
    "created_at",
)


def _rows(conn: Connection, table: str, cols: tuple[str, ...], *where: Any, order=None) -> list:
    t = T[table]
    stmt = select(*[t.c[c] for c in cols]).where(*where)
    if order is not None:
        stmt = stmt.order_by(*order(t))
    return [dict(r._mapping) for r in conn.execute(stmt).all()]


def get_trace(
    engine: Engine, principal: Principal, trace_id: str, max_events: int = 5000
) -> dict[str, Any]:
    """Everything one trace touched: requests -> runs -> jobs -> artifacts, events at each
    level; each row with its error_code. Rows the caller may not read are left out."""
    if not isinstance(trace_id, str) or not _TRACE_ID.match(trace_id):
        raise NFError("NF-INPUT-001", "a trace id is 32 lowercase hex characters")
    R, J, A, E = T["render_runs"], T["jobs"], T["artifacts"], T["events"]
    with submissions.scoped(
        engine,
        principal.scope(),
    ) as conn:
        requests = _rows(
            conn,
            "execution_requests",
            submissions.REQUEST_COLUMNS,
            T["execution_requests"].c.trace_id == trace_id,
            order=lambda t: (t.c.created_at, t.c.id),
        )
        for r in requests:
            r["idempotency_key"] = submissions.public_key(r["idempotency_key"])
            r["params"] = submissions.readable_json(r["params"], "params")
        req_ids = [r["id"] for r in requests]
        runs = _rows(
            conn,
            "render_runs",
            RUN_COLS,
            or_(R.c.trace_id == trace_id, R.c.request_id.in_(req_ids)),
            order=lambda t: (t.c.created_at, t.c.id),
        )
        run_ids = [r["id"] for r in runs]
        jobs = _rows(
            conn,
            "jobs",
            JOB_COLS,
            or_(J.c.trace_id == trace_id, J.c.run_id.in_(run_ids)),
            order=lambda t: (t.c.created_at, t.c.id),
        )
        job_ids = [j["id"] for j in jobs]
        out_ids = [j["output_artifact_id"] for j in jobs if j["output_artifact_id"]]
        artifacts = _rows(
            conn,
            "artifacts",
            ART_COLS,
            or_(A.c.trace_id == trace_id, A.c.job_id.in_(job_ids), A.c.id.in_(out_ids)),
            order=lambda t: (t.c.created_at, t.c.id),
        )
        events = _rows(
            conn,
            "events",
            EVENT_COLS,
            or_(E.c.trace_id == trace_id, E.c.request_id.in_(req_ids), E.c.run_id.in_(run_ids)),
            order=lambda t: (t.c.id,),
        )[:max_events]
        for e in events:
            e["payload"] = submissions.readable_json(e["payload"], "payload")

    def ok(row: dict) -> bool:
        return principal.can(row["tenant_id"], row["project_id"])

    requests, runs, jobs = (
        [r for r in requests if ok(r)],
        [r for r in runs if ok(r)],
        [j for j in jobs if ok(j)],
    )
    artifacts, events = [a for a in artifacts if ok(a)], [e for e in events if ok(e)]
    if not (requests or runs or jobs or artifacts or events):
        raise NFError("NF-INPUT-010", f"no trace {trace_id} that you can read")

    arts_by_job: dict[Any, list] = defaultdict(list)
    by_id = {a["id"]: a for a in artifacts}
    for a in artifacts:
        if a["job_id"] is not None:
            arts_by_job[a["job_id"]].append(a)
    ev_by_job, ev_by_run, ev_by_req = defaultdict(list), defaultdict(list), defaultdict(list)
    for e in events:
        if e["job_id"] is not None:
            ev_by_job[e["job_id"]].append(e)
        elif e["run_id"] is not None:
            ev_by_run[e["run_id"]].append(e)
        elif e["request_id"] is not None:
            ev_by_req[e["request_id"]].append(e)
    jobs_by_run: dict[Any, list] = defaultdict(list)
    for j in jobs:
        own = {a["id"]: a for a in arts_by_job.get(j["id"], [])}
        if j["output_artifact_id"] in by_id:
            own.setdefault(j["output_artifact_id"], by_id[j["output_artifact_id"]])
        jobs_by_run[j["run_id"]].append(
            {**j, "artifacts": list(own.values()), "events": ev_by_job.get(j["id"], [])}
        )
    runs_by_req: dict[Any, list] = defaultdict(list)
    for r in runs:
        runs_by_req[r["request_id"]].append(
            {**r, "jobs": jobs_by_run.get(r["id"], []), "events": ev_by_run.get(r["id"], [])}
        )
    known_reqs = {r["id"] for r in requests}
    return {
        "trace_id": trace_id,
        "requests": [
            {**r, "runs": runs_by_req.get(r["id"], []), "events": ev_by_req.get(r["id"], [])}
            for r in requests
        ],
        # Runs of this trace without a visible request (e.g. launched from the Dagster UI).
        "runs": [run for rid, rs in runs_by_req.items() if rid not in known_reqs for run in rs],
        "counts": {
            "requests": len(requests),
            "runs": len(runs),
            "jobs": len(jobs),
            "artifacts": len(artifacts),
            "events": len(events),
            "failed_jobs": sum(1 for j in jobs if j["error_code"]),
        },
    }


def get_artifact(engine: Engine, principal: Principal, artifact_id: Any) -> dict[str, Any]:
    aid = _uuid(artifact_id, "artifact")
    A = T["artifacts"]
    with submissions.scoped(engine, principal.scope()) as conn:
        rows = _rows(conn, "artifacts", (*ART_COLS, "path", "meta"), A.c.id == aid)
    if not rows or not principal.can(rows[0]["tenant_id"], rows[0]["project_id"]):
        raise NFError("NF-INPUT-010", f"no artifact {aid}")
    return rows[0]


# -- feedback ---------------------------------------------------------------------------------
FEEDBACK_TARGETS = ("artifact", "chapter")


def post_feedback(
    engine: Engine,
    principal: Principal,
    *,
    target_kind: str,
    target_id: Any,
    rating: int,
    idempotency_key: str | None,
    trace_id: str,
    tags: list[str] | None = None,
    comment: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Feedback on an artifact or chapter into `feedback` (SKILL_22 reads it). Idempotent per
    (tenant, project, user, key) within the retention period: a replay returns the caller's
    stored row, a different body is NF-INPUT-008."""
    key = submissions.validate_idempotency_key(idempotency_key)
    if target_kind not in FEEDBACK_TARGETS:
        raise NFError("NF-INPUT-001", f"target_kind must be one of {FEEDBACK_TARGETS}")
    tid = _uuid(target_id, target_kind)
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise NFError("NF-INPUT-001", "rating must be an integer 1-5")
    tags = [clean_text(t, "tag", 64, required=True) for t in (tags or [])]
    if len(tags) > 20:
        raise NFError("NF-INPUT-001", "at most 20 tags")
    comment = clean_text(comment, "comment", 4000, multiline=True)
    fb = T["feedback"]
    with submissions.scoped(engine, principal.scope()) as conn:
        if target_kind == "artifact":
            a = T["artifacts"]
            target = conn.execute(
                select(a.c.tenant_id, a.c.project_id, a.c.skill_id, a.c.skill_version).where(
                    a.c.id == tid
                )
            ).first()
        else:
            # A chapter is rated as its newest video: SKILL_22 groups by the producing skill.
            c, a = T["chapters"], T["artifacts"]
            video = (
                select(a.c.skill_id, a.c.skill_version)
                .where(
                    a.c.novel_id == c.c.novel_id, a.c.chapter_index == c.c.index, a.c.kind == "mp4"
                )
                .order_by(a.c.created_at.desc())
                .limit(1)
                .lateral()
            )
            target = conn.execute(
                select(c.c.tenant_id, c.c.project_id, video.c.skill_id, video.c.skill_version)
                .select_from(c.outerjoin(video, text("true")))
                .where(c.c.id == tid)
            ).first()
        if target is None or not principal.can(target.tenant_id, target.project_id):
            raise NFError("NF-INPUT-010", f"no {target_kind} {tid}")
        principal.check(target.tenant_id, target.project_id, Need.WRITE)
        body = {
            "target_kind": target_kind,
            "target_id": str(tid),
            "rating": rating,
            "tags": tags,
            "comment": comment,
        }
        stored_key = submissions.scoped_key(target.project_id, principal.user_id, key)
        old = conn.execute(
            select(fb.c.id, fb.c.created_at).where(
                fb.c.tenant_id == target.tenant_id, fb.c.idempotency_key == stored_key
            )
        ).first()
        if old is not None and old.created_at < submissions.retention_cutoff():
            submissions.expire_key(conn, "feedback", old.id, stored_key)
        new_id = conn.execute(
            pg_insert(fb)
            .values(
                id=uuid.uuid4(),
                tenant_id=target.tenant_id,
                project_id=target.project_id,
                trace_id=trace_id,
                idempotency_key=stored_key,
                target_kind=target_kind,
                target_id=str(tid),
                rating=rating,
                tags=tags,
                comment=comment,
                user_id=principal.user_id,
                skill_id=target.skill_id,
                skill_version=target.skill_version,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
            .returning(fb.c.id)
        ).scalar()
        row = conn.execute(
            select(fb).where(fb.c.tenant_id == target.tenant_id, fb.c.idempotency_key == stored_key)
        ).first()
    stored = {
        "target_kind": row.target_kind,
        "target_id": row.target_id,
        "rating": row.rating,
        "tags": list(row.tags),
        "comment": row.comment,
    }
    if new_id is None and stored != body:
        raise NFError("NF-INPUT-008", f"Idempotency-Key {key!r} was used for other feedback")
    out = {
        c: getattr(row, c)
        for c in (
            "id",
            "tenant_id",
            "project_id",
            "trace_id",
            "target_kind",
            "target_id",
            "rating",
            "comment",
            "skill_id",
            "skill_version",
            "created_at",
        )
    }
    out["tags"] = list(row.tags)
    return out, new_id is not None
