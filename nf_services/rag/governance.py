"""Embedding-version lifecycle: candidate -> active -> retired, one active per project.

Who/when/why: `created_by`, `promoted_by`/`promoted_at`, `retired_at` and `reason` hold the
latest transition; the full history is appended to `params["lifecycle"]` (action, by, at, reason,
from/to status), which no backend reads.

Promotion goes through the gate its caller passes (`nf rag accept` passes the RAG regression
gate, `nf_services.governance.promotion_gate.rag_promotion_gate`; the proposal flow runs its own
gate first and switches versions with `retire_locked` / `activate_locked` inside its
transaction). A gate
receives a `PromotionRequest` (the version, the active one it would replace, the caller's
evidence) and refuses by returning False or raising NFError (NF-GOV-002). `gate=None` is recorded
as an ungated promotion.

Rollback is one call: the active version is retired and the most recently retired version that
was once active (or the one named) becomes active again. It skips the gate on purpose: the
target already passed it when it was first promoted, and a rollback must work while the
proposal flow is the thing that is broken.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update

from nf_services.rag import backends
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import EmbeddingStatus
from shared.telemetry import current_trace_id

T = Base.metadata.tables
LIFECYCLE_KEY = "lifecycle"


@dataclass(frozen=True)
class VersionInfo:
    id: uuid.UUID
    tenant_id: str
    project_id: str
    name: str
    backend: str
    model: str
    version: str
    dimensions: int
    status: EmbeddingStatus
    params: dict[str, Any]
    created_by: str | None
    promoted_by: str | None
    promoted_at: datetime | None
    retired_at: datetime | None
    reason: str | None
    created_at: datetime

    @property
    def backend_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.params.items() if k != LIFECYCLE_KEY}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "backend": self.backend,
            "model": self.model,
            "version": self.version,
            "dimensions": self.dimensions,
            "status": str(self.status),
            "created_by": self.created_by,
            "promoted_by": self.promoted_by,
            "promoted_at": self.promoted_at,
            "retired_at": self.retired_at,
            "reason": self.reason,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class PromotionRequest:
    version: VersionInfo
    current_active: VersionInfo | None
    by: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


PromotionGate = Callable[[PromotionRequest], bool | None]


def _now() -> datetime:
    return datetime.now(UTC)


def _info(row: Row) -> VersionInfo:
    m = row._mapping
    return VersionInfo(
        m["id"],
        m["tenant_id"],
        m["project_id"],
        m["name"],
        m["backend"],
        m["model"],
        m["version"],
        m["dimensions"],
        EmbeddingStatus(m["status"]),
        dict(m["params"] or {}),
        m["created_by"],
        m["promoted_by"],
        m["promoted_at"],
        m["retired_at"],
        m["reason"],
        m["created_at"],
    )


def _engine(engine: Engine | None) -> Engine:
    if engine is not None:
        return engine
    from shared.db import get_engine

    return get_engine()


def _history(
    info: VersionInfo, action: str, by: str, reason: str, to: EmbeddingStatus, **extra: Any
) -> dict[str, Any]:
    entry = {
        "action": action,
        "by": by,
        "at": _now().isoformat(),
        "reason": reason,
        "from": str(info.status),
        "to": str(to),
        **extra,
    }
    return {**info.params, LIFECYCLE_KEY: [*info.params.get(LIFECYCLE_KEY, []), entry]}


def create_version(
    tenant_id: str,
    project_id: str,
    *,
    name: str,
    backend: str,
    params: dict[str, Any] | None = None,
    created_by: str,
    reason: str | None = None,
    version: str = "1",
    engine: Engine | None = None,
) -> VersionInfo:
    """A new candidate version; NF-DB-002 if the project already has one with that name."""
    full, model, dims = backends.normalize_params(backend, params)
    table = T["embedding_versions"]
    entry = {
        "action": "create",
        "by": created_by,
        "at": _now().isoformat(),
        "reason": reason,
        "from": None,
        "to": str(EmbeddingStatus.CANDIDATE),
    }
    eng = _engine(engine)
    with eng.begin() as conn:
        exists = conn.execute(
            select(table.c.id).where(
                table.c.tenant_id == tenant_id,
                table.c.project_id == project_id,
                table.c.name == name,
            )
        ).first()
        if exists:
            raise NFError("NF-DB-002", f"embedding version {name!r} already exists")
        row = conn.execute(
            insert(table)
            .values(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                project_id=project_id,
                trace_id=current_trace_id(),
                name=name,
                backend=backend,
                model=model,
                version=version,
                dimensions=dims,
                status=EmbeddingStatus.CANDIDATE,
                params={**full, LIFECYCLE_KEY: [entry]},
                created_by=created_by,
                reason=reason,
            )
            .returning(*table.c)
        ).one()
    return _info(row)


def get_version(
    version_id: uuid.UUID | str,
    *,
    tenant_id: str | None = None,
    project_id: str | None = None,
    engine: Engine | None = None,
) -> VersionInfo:
    """The version; NF-INPUT-010 if unknown or (given a tenant/project) not theirs."""
    table = T["embedding_versions"]
    q = select(table).where(table.c.id == uuid.UUID(str(version_id)))
    if tenant_id is not None:
        q = q.where(table.c.tenant_id == tenant_id)
    if project_id is not None:
        q = q.where(table.c.project_id == project_id)
    with _engine(engine).connect() as conn:
        row = conn.execute(q).first()
    if row is None:
        raise NFError("NF-INPUT-010", f"no embedding version {version_id}")
    return _info(row)


def list_versions(
    tenant_id: str,
    project_id: str,
    *,
    statuses: tuple[EmbeddingStatus, ...] | None = None,
    engine: Engine | None = None,
) -> list[VersionInfo]:
    table = T["embedding_versions"]
    q = select(table).where(table.c.tenant_id == tenant_id, table.c.project_id == project_id)
    if statuses:
        q = q.where(table.c.status.in_(list(statuses)))
    with _engine(engine).connect() as conn:
        return [_info(r) for r in conn.execute(q.order_by(table.c.created_at, table.c.name))]


def active_version(
    tenant_id: str, project_id: str, *, engine: Engine | None = None
) -> VersionInfo | None:
    found = list_versions(tenant_id, project_id, statuses=(EmbeddingStatus.ACTIVE,), engine=engine)
    return found[0] if found else None


def require_active(tenant_id: str, project_id: str, *, engine: Engine | None = None) -> VersionInfo:
    found = active_version(tenant_id, project_id, engine=engine)
    if found is None:
        raise NFError("NF-RAG-001", f"no active embedding version for {tenant_id}/{project_id}")
    return found


def set_fitted_params(
    version_id: uuid.UUID, params: dict[str, Any], dimensions: int, *, engine: Engine | None = None
) -> VersionInfo:
    """Pin a fitted model to a version that has no vectors yet (the first indexing run)."""
    table = T["embedding_versions"]
    with _engine(engine).begin() as conn:
        row = conn.execute(select(table).where(table.c.id == version_id).with_for_update()).one()
        info = _info(row)
        if not backends.needs_fit(info.backend, info.params):
            return info  # another run fitted it first: keep that model
        row = conn.execute(
            update(table)
            .where(table.c.id == version_id)
            .values(
                params={**params, LIFECYCLE_KEY: info.params.get(LIFECYCLE_KEY, [])},
                dimensions=dimensions,
            )
            .returning(*table.c)
        ).one()
    return _info(row)


def lock_versions(conn, tenant_id: str, project_id: str) -> list[VersionInfo]:
    """The project's versions, locked for the caller's transaction (with retire_locked and
    activate_locked, the building blocks of every version switch)."""
    table = T["embedding_versions"]
    rows = conn.execute(
        select(table)
        .where(table.c.tenant_id == tenant_id, table.c.project_id == project_id)
        .order_by(table.c.id)
        .with_for_update()
    ).all()
    return [_info(r) for r in rows]


def retire_locked(conn, info: VersionInfo, by: str, reason: str, action: str) -> None:
    table = T["embedding_versions"]
    conn.execute(
        update(table)
        .where(table.c.id == info.id)
        .values(
            status=EmbeddingStatus.RETIRED,
            retired_at=_now(),
            reason=reason,
            params=_history(info, action, by, reason, EmbeddingStatus.RETIRED),
        )
    )


def activate_locked(
    conn, info: VersionInfo, by: str, reason: str, action: str, **extra: Any
) -> Row:
    table = T["embedding_versions"]
    return conn.execute(
        update(table)
        .where(table.c.id == info.id)
        .values(
            status=EmbeddingStatus.ACTIVE,
            promoted_by=by,
            promoted_at=_now(),
            retired_at=None,
            reason=reason,
            params=_history(info, action, by, reason, EmbeddingStatus.ACTIVE, **extra),
        )
        .returning(*table.c)
    ).one()


def promote(
    version_id: uuid.UUID | str,
    by: str,
    reason: str,
    gate: PromotionGate | None = None,
    *,
    evidence: dict[str, Any] | None = None,
    engine: Engine | None = None,
) -> VersionInfo:
    """Make a candidate the project's active version (the old active is retired). The gate sees
    the evidence and may refuse: NF-GOV-002."""
    eng = _engine(engine)
    target = get_version(version_id, engine=eng)
    if target.status != EmbeddingStatus.CANDIDATE:
        raise NFError(
            "NF-RAG-003", f"only a candidate can be promoted; {target.name} is {target.status}"
        )
    if backends.needs_fit(target.backend, target.params):
        raise NFError("NF-RAG-003", f"{target.name} has no index yet (not fitted)")
    current = active_version(target.tenant_id, target.project_id, engine=eng)
    if gate is not None:
        verdict = gate(PromotionRequest(target, current, by, reason, evidence or {}))
        if verdict is False:
            raise NFError("NF-GOV-002", f"the promotion gate refused {target.name}")
    gate_name = getattr(gate, "__qualname__", repr(gate)) if gate else "none"
    with eng.begin() as conn:
        versions = {v.id: v for v in lock_versions(conn, target.tenant_id, target.project_id)}
        fresh = versions[target.id]
        if fresh.status != EmbeddingStatus.CANDIDATE:  # raced with another transition
            raise NFError("NF-RAG-003", f"{fresh.name} is {fresh.status} now")
        for v in versions.values():
            if v.status == EmbeddingStatus.ACTIVE:
                retire_locked(conn, v, by, f"replaced by {fresh.name}: {reason}", "replaced")
        row = activate_locked(conn, fresh, by, reason, "promote", gate=gate_name)
    return _info(row)


def bootstrap_active(
    tenant_id: str, project_id: str, name: str, *, engine: Engine | None = None
) -> VersionInfo:
    """Activate candidate `name` of a project that has never had an active version. There is
    nothing to replace or compare with, so no gate applies; NF-RAG-003 otherwise."""
    with _engine(engine).begin() as conn:
        versions = lock_versions(conn, tenant_id, project_id)
        if any(v.promoted_at is not None for v in versions):
            raise NFError("NF-RAG-003", "the project already had an active version: promote")
        target = next((v for v in versions if v.name == name), None)
        if target is None or target.status != EmbeddingStatus.CANDIDATE:
            raise NFError("NF-RAG-003", f"no candidate {name!r} to bootstrap")
        row = activate_locked(
            conn, target, "system:bootstrap", "first version of the project", "bootstrap"
        )
    return _info(row)


def rollback(
    tenant_id: str,
    project_id: str,
    by: str,
    reason: str,
    *,
    to_version_id: uuid.UUID | str | None = None,
    engine: Engine | None = None,
) -> VersionInfo:
    """Retire the active version and re-activate the previous one (or `to_version_id`, which
    must be a retired version that was active before). NF-RAG-003 when there is none."""
    eng = _engine(engine)
    with eng.begin() as conn:
        versions = lock_versions(conn, tenant_id, project_id)
        active = next((v for v in versions if v.status == EmbeddingStatus.ACTIVE), None)
        was_active = [
            v for v in versions if v.status == EmbeddingStatus.RETIRED and v.promoted_at is not None
        ]
        if to_version_id is not None:
            target = next((v for v in versions if v.id == uuid.UUID(str(to_version_id))), None)
            if target is None:
                raise NFError("NF-INPUT-010", f"no embedding version {to_version_id} here")
            if target not in was_active:
                raise NFError(
                    "NF-RAG-003",
                    f"{target.name} is {target.status} and was never active: promote it instead",
                )
        else:
            if not was_active:
                raise NFError("NF-RAG-003", "no previously active version to roll back to")
            target = max(was_active, key=lambda v: v.retired_at or v.created_at)
        if active is not None:
            retire_locked(conn, active, by, f"rolled back to {target.name}: {reason}", "rollback")
        row = activate_locked(
            conn, target, by, reason, "restore", replaced=str(active.id) if active else None
        )
    return _info(row)


def retire(
    version_id: uuid.UUID | str, by: str, reason: str, *, engine: Engine | None = None
) -> VersionInfo:
    """Retire a candidate (or the active version, leaving the project without one)."""
    eng = _engine(engine)
    info = get_version(version_id, engine=eng)
    if info.status == EmbeddingStatus.RETIRED:
        raise NFError("NF-RAG-003", f"{info.name} is already retired")
    with eng.begin() as conn:
        fresh = {v.id: v for v in lock_versions(conn, info.tenant_id, info.project_id)}[info.id]
        if fresh.status == EmbeddingStatus.RETIRED:
            raise NFError("NF-RAG-003", f"{info.name} is already retired")
        retire_locked(conn, fresh, by, reason, "retire")
    return get_version(version_id, engine=eng)
