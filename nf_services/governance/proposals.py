"""The proposal flow: a change to a skill version, prompt template, provider choice or embedding
version moves draft -> in_review -> approved | rejected -> promoted -> (rolled_back).

| action   | from      | to          | who                                          |
|----------|-----------|-------------|----------------------------------------------|
| create   | -         | draft       | owner, editor, automation (SKILL_17)         |
| submit   | draft     | in_review   | owner, editor, automation                    |
| approve  | in_review | approved    | owner, not the proposal's author             |
| reject   | in_review | rejected    | owner, not the proposal's author             |
| promote  | approved  | promoted    | owner; the promotion gate must pass          |
| rollback | promoted  | rolled_back | owner                                        |

Operators act as owners everywhere. Each action runs in one transaction with the proposal row
locked: the state change, its side effects (review row, promotion row, the ref switch) and a
`proposal.transitioned` event with the trace id commit together. A refused promotion stores its
gate report on the proposal (and an event saying so), then raises NF-GOV-002; the proposal stays
approved so it can be promoted once the evidence is there. Promotion is optimistic: if the live
ref is no longer the proposal's `from_ref`, the proposal is stale (NF-GOV-001).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_services.governance.promotion_gate import GatePolicy, GateReport, evaluate_gate
from nf_services.governance.roles import SYSTEM, require_role
from shared import telemetry
from shared.errors import NFError
from shared.events import EventEnvelope, emit_many
from shared.models import Base
from shared.models.enums import EmbeddingStatus, EventTopic, MemberRole, ProposalStatus
from shared.models.governance import PROPOSAL_KINDS

T = Base.metadata.tables
S = ProposalStatus
OWNERS = frozenset({MemberRole.OWNER})
EDITORS = frozenset({MemberRole.OWNER, MemberRole.EDITOR})
_SKILL = re.compile(r"^SKILL_\d{2}$")


@dataclass(frozen=True)
class Rule:
    source: ProposalStatus
    target: ProposalStatus
    roles: frozenset[MemberRole]
    system: bool = False  # automation may do it
    review: bool = False  # a review: recorded as such, never by the author


ACTIONS: dict[str, Rule] = {
    "submit": Rule(S.DRAFT, S.IN_REVIEW, EDITORS, system=True),
    "approve": Rule(S.IN_REVIEW, S.APPROVED, OWNERS, review=True),
    "reject": Rule(S.IN_REVIEW, S.REJECTED, OWNERS, review=True),
    "promote": Rule(S.APPROVED, S.PROMOTED, OWNERS),
    "rollback": Rule(S.PROMOTED, S.ROLLED_BACK, OWNERS),
}


def _now() -> datetime:
    return datetime.now(UTC)


def _creation_trace(trace_id: str | None) -> str:
    """A new proposal joins the caller's trace (explicit, else the active one) or starts one."""
    if trace_id:
        return trace_id
    ctx = telemetry.current()
    return ctx.trace_id if ctx else telemetry.new_trace_id()


def as_dict(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    if isinstance(d.get("status"), ProposalStatus):
        d["status"] = d["status"].value
    return d


# -- the live ref of each kind --------------------------------------------------------------
def _template_key(target: str) -> tuple[str, str]:
    skill, _, name = target.partition("/")
    if not _SKILL.match(skill) or not name:
        raise NFError(
            "NF-INPUT-001", f"a prompt template target is SKILL_NN/<name>, not {target!r}"
        )
    return skill, name


def current_ref(
    conn: Connection, kind: str, tenant_id: str, project_id: str, target: str
) -> str | None:
    """What is live now for `target` in this project (None: nothing promoted yet)."""
    if kind == "skill_version":
        sv = T["skill_versions"]
        return conn.execute(
            select(sv.c.version).where(
                sv.c.tenant_id == tenant_id,
                sv.c.project_id == project_id,
                sv.c.skill_id == target,
                sv.c.status == "active",
            )
        ).scalar()
    if kind == "prompt_template":
        pt = T["prompt_templates"]
        skill, name = _template_key(target)
        return conn.execute(
            select(pt.c.version)
            .where(
                pt.c.tenant_id == tenant_id,
                pt.c.project_id == project_id,
                pt.c.skill_id == skill,
                pt.c.name == name,
                pt.c.status == "active",
            )
            .order_by(pt.c.updated_at.desc())
            .limit(1)
        ).scalar()
    if kind == "provider":
        p = T["projects"]
        config = conn.execute(
            select(p.c.config).where(p.c.tenant_id == tenant_id, p.c.id == project_id)
        ).scalar()
        return ((config or {}).get("providers") or {}).get(target)
    ev = T["embedding_versions"]
    return conn.execute(
        select(ev.c.name).where(
            ev.c.tenant_id == tenant_id,
            ev.c.project_id == project_id,
            ev.c.status == EmbeddingStatus.ACTIVE,
        )
    ).scalar()


def _validate_refs(
    conn: Connection,
    kind: str,
    tenant_id: str,
    project_id: str,
    target: str,
    to_ref: str,
    trace_id: str,
) -> None:
    """The candidate must exist (a skill version is registered here as a candidate row)."""
    if kind == "skill_version":
        if not _SKILL.match(target):
            raise NFError("NF-INPUT-001", f"a skill version target is SKILL_NN, not {target!r}")
        conn.execute(
            pg_insert(T["skill_versions"])
            .values(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                project_id=project_id,
                trace_id=trace_id,
                skill_id=target,
                version=to_ref,
                status="candidate",
            )
            .on_conflict_do_nothing(constraint="uq_skill_versions_key")
        )
    elif kind == "prompt_template":
        skill, name = _template_key(target)
        pt = T["prompt_templates"]
        if (
            conn.execute(
                select(pt.c.id).where(
                    pt.c.tenant_id == tenant_id,
                    pt.c.project_id == project_id,
                    pt.c.skill_id == skill,
                    pt.c.name == name,
                    pt.c.version == to_ref,
                )
            ).first()
            is None
        ):
            raise NFError("NF-INPUT-010", f"no prompt template {target}@{to_ref}")
    elif kind == "embedding_version":
        ev = T["embedding_versions"]
        if (
            conn.execute(
                select(ev.c.id).where(
                    ev.c.tenant_id == tenant_id, ev.c.project_id == project_id, ev.c.name == to_ref
                )
            ).first()
            is None
        ):
            raise NFError("NF-INPUT-010", f"no embedding version {to_ref!r}")


def _activate(
    conn: Connection, prop: Any, new: str | None, old: str | None, who: str, action: str
) -> None:
    """Make `new` live in place of `old`, which the caller checked is what is live (new None:
    nothing live afterwards)."""
    t, p, target, kind = prop.tenant_id, prop.project_id, prop.target, prop.kind
    now = _now()
    if kind == "skill_version":
        sv = T["skill_versions"]
        scope = [sv.c.tenant_id == t, sv.c.project_id == p, sv.c.skill_id == target]
        conn.execute(
            update(sv)
            .where(*scope, sv.c.status == "active")
            .values(status="retired", updated_at=now)
        )
        if new is not None:
            conn.execute(
                pg_insert(sv)
                .values(
                    id=uuid.uuid4(),
                    tenant_id=t,
                    project_id=p,
                    trace_id=prop.trace_id,
                    skill_id=target,
                    version=new,
                    status="active",
                )
                .on_conflict_do_update(
                    constraint="uq_skill_versions_key", set_={"status": "active", "updated_at": now}
                )
            )
    elif kind == "prompt_template":
        pt = T["prompt_templates"]
        skill, name = _template_key(target)
        scope = [
            pt.c.tenant_id == t,
            pt.c.project_id == p,
            pt.c.skill_id == skill,
            pt.c.name == name,
        ]
        conn.execute(
            update(pt)
            .where(*scope, pt.c.status == "active")
            .values(status="retired", updated_at=now)
        )
        if new is not None:
            conn.execute(
                update(pt)
                .where(*scope, pt.c.version == new)
                .values(status="active", updated_at=now)
            )
    elif kind == "provider":
        conn.execute(
            text("""
            UPDATE projects SET updated_at = now(), config = jsonb_set(
                config, '{providers}',
                CASE WHEN :new IS NULL THEN coalesce(config->'providers', '{}') - :target
                     ELSE coalesce(config->'providers', '{}') || jsonb_build_object(:target, :new)
                END)
            WHERE tenant_id = :t AND id = :p
        """),
            {"new": new, "target": target, "t": t, "p": p},
        )
    else:
        # RAG governance's own row helpers, inside this transaction, so the version keeps its
        # lifecycle history whichever door (proposal or `nf rag`) it went through.
        from nf_services.rag import backends
        from nf_services.rag import governance as rag

        versions = {v.name: v for v in rag.lock_versions(conn, t, p)}
        target_v = versions.get(new) if new is not None else None
        if target_v is not None and backends.needs_fit(target_v.backend, target_v.params):
            raise NFError("NF-RAG-003", f"{new} has no index yet (not fitted)")
        why = f"proposal {prop.id}"
        for v in versions.values():  # at most one active per project: retire first
            if v.status == EmbeddingStatus.ACTIVE:
                rag.retire_locked(conn, v, who, f"{action}: replaced by {new} ({why})", action)
        if target_v is not None:
            rag.activate_locked(conn, target_v, who, why, action, gate="nf_services.governance")


# -- reads ----------------------------------------------------------------------------------
def _load(conn: Connection, proposal_id: uuid.UUID | str, *, lock: bool = False) -> Any:
    pr = T["proposals"]
    try:
        pid = proposal_id if isinstance(proposal_id, uuid.UUID) else uuid.UUID(str(proposal_id))
    except ValueError:
        raise NFError("NF-INPUT-010", f"no proposal {proposal_id!r}") from None
    stmt = select(pr).where(pr.c.id == pid)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NFError("NF-INPUT-010", f"no proposal {proposal_id!r}")
    return row


def get_proposal(engine: Engine, proposal_id: uuid.UUID | str) -> dict[str, Any]:
    """The proposal with its reviews, promotions and transition history."""
    rv, pm, ev = T["proposal_reviews"], T["promotions"], T["events"]
    with engine.connect() as conn:
        prop = _load(conn, proposal_id)
        doc = as_dict(prop)
        doc["reviews"] = [
            dict(r._mapping)
            for r in conn.execute(
                select(rv.c.reviewer, rv.c.decision, rv.c.reason, rv.c.created_at)
                .where(rv.c.proposal_id == prop.id)
                .order_by(rv.c.created_at)
            )
        ]
        doc["promotions"] = [
            dict(r._mapping)
            for r in conn.execute(
                select(pm.c.id, pm.c.promoted_by, pm.c.created_at, pm.c.rolled_back_at)
                .where(pm.c.proposal_id == prop.id)
                .order_by(pm.c.created_at)
            )
        ]
        doc["history"] = [
            dict(r._mapping)
            for r in conn.execute(
                select(ev.c.created_at, ev.c.trace_id, ev.c.payload)
                .where(
                    ev.c.tenant_id == prop.tenant_id,
                    ev.c.topic == EventTopic.PROPOSAL_TRANSITIONED.value,
                    ev.c.payload["proposal_id"].astext == str(prop.id),
                )
                .order_by(ev.c.id)
            )
        ]
    return doc


def list_proposals(
    engine: Engine, tenant_id: str, project_id: str, status: str | None = None
) -> list[dict[str, Any]]:
    pr = T["proposals"]
    cond = [pr.c.tenant_id == tenant_id, pr.c.project_id == project_id]
    if status:
        cond.append(pr.c.status == ProposalStatus(status))
    with engine.connect() as conn:
        rows = conn.execute(select(pr).where(*cond).order_by(pr.c.created_at.desc())).all()
    return [as_dict(r) for r in rows]


# -- writes ---------------------------------------------------------------------------------
def _event(conn: Connection, prop: Any, trace_id: str, **payload: Any) -> None:
    event = EventEnvelope(
        topic=EventTopic.PROPOSAL_TRANSITIONED,
        tenant_id=prop.tenant_id,
        project_id=prop.project_id,
        trace_id=trace_id,
        payload={
            "proposal_id": str(prop.id),
            "kind": prop.kind,
            "target": prop.target,
            "from_ref": prop.from_ref,
            "to_ref": prop.to_ref,
            **payload,
        },
    )
    emit_many(conn, [event])


def create_proposal(
    engine: Engine,
    *,
    tenant_id: str,
    project_id: str,
    kind: str,
    target: str,
    to_ref: str,
    actor: str,
    from_ref: str | None = None,
    reason: str | None = None,
    idempotency_key: str | None = None,
    trace_id: str | None = None,
) -> dict[str, Any]:
    """A draft proposal. `from_ref` defaults to what is live now. The same idempotency key with
    the same change returns the stored proposal; with another change, NF-INPUT-008."""
    if kind not in PROPOSAL_KINDS:
        raise NFError("NF-INPUT-001", f"proposal kind must be one of {', '.join(PROPOSAL_KINDS)}")
    if not target or not to_ref:
        raise NFError("NF-INPUT-001", "a proposal needs a target and a to_ref")
    pr = T["proposals"]
    with engine.begin() as conn:
        who = require_role(
            conn, actor, tenant_id, project_id, EDITORS, "create proposals", system_allowed=True
        )
        if idempotency_key:
            old = conn.execute(
                select(pr).where(
                    pr.c.tenant_id == tenant_id, pr.c.idempotency_key == idempotency_key
                )
            ).first()
            if old is not None:
                same = (old.project_id, old.kind, old.target, old.to_ref) == (
                    project_id,
                    kind,
                    target,
                    to_ref,
                ) and from_ref in (None, old.from_ref)
                if not same:
                    raise NFError(
                        "NF-INPUT-008",
                        f"idempotency key {idempotency_key!r} was used for another proposal",
                    )
                return as_dict(old)
        trace = _creation_trace(trace_id)
        _validate_refs(conn, kind, tenant_id, project_id, target, to_ref, trace)
        live = current_ref(conn, kind, tenant_id, project_id, target)
        from_ref = from_ref if from_ref is not None else live
        if from_ref == to_ref:
            raise NFError("NF-INPUT-001", f"{target} is already at {to_ref}")
        values = {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "project_id": project_id,
            "trace_id": trace,
            "idempotency_key": idempotency_key,
            "kind": kind,
            "target": target,
            "from_ref": from_ref,
            "to_ref": to_ref,
            "status": ProposalStatus.DRAFT,
            "created_by": who,
            "reason": reason,
        }
        ins = pg_insert(pr).values(values).on_conflict_do_nothing().returning(pr.c.id)
        if conn.execute(ins).scalar() is None:  # a concurrent twin with the same key won
            return as_dict(
                conn.execute(
                    select(pr).where(
                        pr.c.tenant_id == tenant_id, pr.c.idempotency_key == idempotency_key
                    )
                ).one()
            )
        prop = _load(conn, values["id"])
        _event(
            conn,
            prop,
            trace,
            action="create",
            from_status=None,
            to_status=S.DRAFT.value,
            actor=who,
            reason=reason,
        )
        return as_dict(prop)


def transition(
    engine: Engine,
    proposal_id: uuid.UUID | str,
    action: str,
    *,
    actor: str,
    reason: str | None = None,
    trace_id: str | None = None,
    policy: GatePolicy | None = None,
) -> dict[str, Any]:
    """Apply `action` (submit/approve/reject/promote/rollback) as `actor`."""
    rule = ACTIONS.get(action)
    if rule is None:
        raise NFError("NF-INPUT-001", f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    pr, rv, pm = T["proposals"], T["proposal_reviews"], T["promotions"]
    refused: GateReport | None = None
    with engine.begin() as conn:
        prop = _load(conn, proposal_id, lock=True)
        who = require_role(
            conn,
            actor,
            prop.tenant_id,
            prop.project_id,
            rule.roles,
            f"{action} proposals",
            system_allowed=rule.system,
        )
        if prop.status != rule.source:
            raise NFError(
                "NF-GOV-001",
                f"cannot {action} a {prop.status.value} proposal (only from {rule.source.value})",
                status=prop.status.value,
            )
        if rule.review and who == prop.created_by:
            raise NFError("NF-AUTH-004", f"{who} wrote this proposal and cannot review it")
        # A proposal is one traced workflow: its transitions carry its trace unless told otherwise.
        trace = trace_id or prop.trace_id
        now = _now()
        values: dict[str, Any] = {"status": rule.target, "updated_at": now}
        payload: dict[str, Any] = {}
        if rule.review:
            conn.execute(
                pg_insert(rv).values(
                    id=uuid.uuid4(),
                    tenant_id=prop.tenant_id,
                    project_id=prop.project_id,
                    trace_id=trace,
                    proposal_id=prop.id,
                    reviewer=who,
                    decision=action,
                    reason=reason,
                )
            )
        if action == "promote":
            report = evaluate_gate(
                conn,
                tenant_id=prop.tenant_id,
                project_id=prop.project_id,
                kind=prop.kind,
                target=prop.target,
                from_ref=prop.from_ref,
                to_ref=prop.to_ref,
                idempotency_key=prop.idempotency_key,
                policy=policy,
            )
            payload["gate"] = {"passed": report.passed, "failed": [c.gate for c in report.failed]}
            if not report.passed:
                refused = report
                conn.execute(
                    update(pr)
                    .where(pr.c.id == prop.id)
                    .values(gate_report=report.to_dict(), updated_at=now)
                )
                _event(
                    conn,
                    prop,
                    trace,
                    action="promote",
                    from_status=prop.status.value,
                    to_status=prop.status.value,
                    refused=True,
                    actor=who,
                    reason=report.summary(),
                    **payload,
                )
            else:
                live = current_ref(conn, prop.kind, prop.tenant_id, prop.project_id, prop.target)
                if live != prop.from_ref:
                    raise NFError(
                        "NF-GOV-001",
                        f"stale proposal: {prop.target} is at {live}, "
                        f"not {prop.from_ref}; create a new proposal",
                    )
                _activate(conn, prop, prop.to_ref, prop.from_ref, who, "promote")
                conn.execute(
                    pg_insert(pm).values(
                        id=uuid.uuid4(),
                        tenant_id=prop.tenant_id,
                        project_id=prop.project_id,
                        trace_id=trace,
                        proposal_id=prop.id,
                        promoted_by=who,
                        gate_report=report.to_dict(),
                    )
                )
                values["gate_report"] = report.to_dict()
        elif action == "rollback":
            live = current_ref(conn, prop.kind, prop.tenant_id, prop.project_id, prop.target)
            if live != prop.to_ref:
                raise NFError(
                    "NF-GOV-001",
                    f"cannot roll back: {prop.target} is at {live}, "
                    f"not {prop.to_ref} (promoted since?)",
                )
            _activate(conn, prop, prop.from_ref, prop.to_ref, who, "rollback")
            conn.execute(
                update(pm)
                .where(pm.c.proposal_id == prop.id, pm.c.rolled_back_at.is_(None))
                .values(rolled_back_at=now, updated_at=now)
            )
        if refused is None:
            conn.execute(update(pr).where(pr.c.id == prop.id).values(**values))
            _event(
                conn,
                prop,
                trace,
                action=action,
                from_status=prop.status.value,
                to_status=rule.target.value,
                actor=who,
                reason=reason,
                **payload,
            )
    if refused is not None:
        raise NFError(
            "NF-GOV-002",
            f"promotion of {prop.target} {prop.from_ref} -> "
            f"{prop.to_ref} refused: {refused.summary()}",
            gate_report=refused.to_dict(),
            proposal_id=str(prop.id),
        )
    return get_proposal(engine, prop.id)


def submit(
    engine: Engine, proposal_id: uuid.UUID | str, *, actor: str, **kw: Any
) -> dict[str, Any]:
    return transition(engine, proposal_id, "submit", actor=actor, **kw)


def review(
    engine: Engine,
    proposal_id: uuid.UUID | str,
    *,
    actor: str,
    approve: bool,
    reason: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return transition(
        engine, proposal_id, "approve" if approve else "reject", actor=actor, reason=reason, **kw
    )


def promote(
    engine: Engine, proposal_id: uuid.UUID | str, *, actor: str, **kw: Any
) -> dict[str, Any]:
    return transition(engine, proposal_id, "promote", actor=actor, **kw)


def rollback(
    engine: Engine, proposal_id: uuid.UUID | str, *, actor: str, **kw: Any
) -> dict[str, Any]:
    return transition(engine, proposal_id, "rollback", actor=actor, **kw)


def pending_reviews(engine: Engine, tenant_id: str, project_id: str) -> int:
    pr = T["proposals"]
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(pr)
                .where(
                    pr.c.tenant_id == tenant_id,
                    pr.c.project_id == project_id,
                    pr.c.status == ProposalStatus.IN_REVIEW,
                )
            ).scalar()
            or 0
        )


__all__ = [
    "ACTIONS",
    "SYSTEM",
    "create_proposal",
    "current_ref",
    "get_proposal",
    "list_proposals",
    "pending_reviews",
    "promote",
    "review",
    "rollback",
    "submit",
    "transition",
]
