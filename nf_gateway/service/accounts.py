"""Accounts: login, tokens, passwords, disabling users, maintenance of expired rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Text, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_gateway import auth
from nf_gateway.paging import paginate
from nf_gateway.principal import Principal
from nf_gateway.service.common import check_email, clean_text, parse_uuid, utcnow
from nf_services import submissions
from shared.config import get_settings
from shared.errors import NFError
from shared.models import Base
from shared.slugs import validate_slug

T = Base.metadata.tables


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
    expires = utcnow() + timedelta(days=expires_in_days)
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
                select(users.c.id).where(func.lower(users.c.email) == check_email(user_email))
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
                or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > utcnow()),
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
    tid = parse_uuid(token_id, "token")
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
    now = utcnow()
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
    now = utcnow()
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
    now = utcnow()
    cond = (
        users.c.id == parse_uuid(user, "user")
        if "@" not in str(user)
        else func.lower(users.c.email) == check_email(user)
    )
    if disabled and "@" not in str(user) and parse_uuid(user) == principal.user_id:
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
    now = utcnow()
    with engine.begin() as conn:
        row = conn.execute(
            update(users)
            .where(func.lower(users.c.email) == check_email(user))
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
            purged = conn.execute(r.delete().where(r.c.expires_at < utcnow())).rowcount
    return {"unreadable": found, "repaired": len(found) if apply else 0, "purged": purged}


def _issue(user_id: Any) -> dict[str, Any]:
    token, exp = auth.issue_access_token(str(user_id))
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_at": datetime.fromtimestamp(exp, UTC),
        "user_id": user_id,
    }
