"""Rollback and promotion suggestions from stored evaluation results.

After an evaluation round, per project:

- **rollback** when the active version's latest recall@k (or MRR) is more than `max_drop` below
  its reference on the same eval sets. The reference is the better of the active version's own
  first result on each set (its baseline when it went live) and the latest result of the
  version it replaced by promotion (not one that was rolled back or retired by hand). The
  suggestion points back at that previous version (none when there is no such version).
- **promote** when a candidate's recall@k beats the active version's by at least `min_gain`
  on the eval sets both were measured on (or MRR does, at equal recall); with no active
  version, the best evaluated candidate.

Each suggestion row carries its evidence (metrics, reference, thresholds, eval sets) and is
announced by a `rag.suggestion` event in the same transaction. An open suggestion is updated,
not duplicated, on the next round; one the latest round no longer supports (the regression
healed, the candidate fell behind or changed state) is dismissed by "system". Accepting one
runs the rollback, or the promotion through the gate.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from nf_services.rag import governance
from nf_services.rag.eval import results
from nf_services.rag.governance import VersionInfo
from shared.errors import NFError
from shared.events import emit
from shared.models import Base
from shared.models.enums import EmbeddingStatus, EventTopic
from shared.stages import Stage
from shared.telemetry import current_trace_id

T = Base.metadata.tables


@dataclass(frozen=True)
class Thresholds:
    max_drop: float = 0.05  # absolute drop of recall@k or MRR that counts as a regression
    min_gain: float = 0.02  # absolute gain a candidate needs to be suggested
    min_queries: int = 10  # fewer resolved queries on a set: too noisy to compare


@dataclass(frozen=True)
class Suggestion:
    id: uuid.UUID
    kind: str
    from_version_id: uuid.UUID | None
    to_version_id: uuid.UUID | None
    evidence: dict[str, Any]
    created: bool  # False: an open suggestion was refreshed


def _per_set(engine: Engine, version_id: uuid.UUID, *, first: bool = False) -> dict:
    """eval_set_id -> the latest (or first) result of the version on it."""
    out: dict[uuid.UUID, dict] = {}
    rows = results(engine, version_id)
    for r in reversed(rows) if first else rows:
        out.setdefault(r["eval_set_id"], r)
    return out


def _aggregate(rows: dict, sets: set) -> dict[str, float]:
    n = sum(rows[s]["n_queries"] for s in sets)
    return {
        "recall_at_k": sum(rows[s]["recall_at_k"] * rows[s]["n_queries"] for s in sets) / n,
        "mrr": sum(rows[s]["mrr"] * rows[s]["n_queries"] for s in sets) / n,
        "n_queries": n,
    }


def _usable(rows: dict, th: Thresholds) -> dict:
    return {s: r for s, r in rows.items() if r["n_queries"] >= th.min_queries}


def compare(
    engine: Engine, a: uuid.UUID, b: uuid.UUID, th: Thresholds = Thresholds()
) -> dict | None:
    """Latest metrics of versions a and b over the eval sets both have results on."""
    ra, rb = _usable(_per_set(engine, a), th), _usable(_per_set(engine, b), th)
    common = set(ra) & set(rb)
    if not common:
        return None
    return {
        "a": _aggregate(ra, common),
        "b": _aggregate(rb, common),
        "eval_sets": sorted(str(s) for s in common),
    }


def _previous_active(versions: list[VersionInfo]) -> VersionInfo | None:
    """The version the active one replaced by promotion. One that was rolled back or retired
    by hand was judged bad by someone: it is no reference and no rollback target."""
    was = [v for v in versions if v.status == EmbeddingStatus.RETIRED and v.promoted_at]
    if not was:
        return None
    last = max(was, key=lambda v: v.retired_at or v.created_at)
    history = last.params.get(governance.LIFECYCLE_KEY) or [{}]
    return last if history[-1].get("action") == "replaced" else None


def _regression(
    engine: Engine, active: VersionInfo, prev: VersionInfo | None, th: Thresholds
) -> dict | None:
    latest = _usable(_per_set(engine, active.id), th)
    if not latest:
        return None
    refs: dict[uuid.UUID, tuple[dict, str]] = {}
    for s, r in _usable(_per_set(engine, active.id, first=True), th).items():
        if r["id"] != latest.get(s, {}).get("id"):
            refs[s] = (r, "baseline")
    if prev is not None:
        for s, r in _usable(_per_set(engine, prev.id), th).items():
            if s not in refs or r["recall_at_k"] > refs[s][0]["recall_at_k"]:
                refs[s] = (r, "previous_active")
    common = set(latest) & set(refs)
    if not common:
        return None
    cur = _aggregate(latest, common)
    ref = _aggregate({s: refs[s][0] for s in common}, common)
    drops = {m: ref[m] - cur[m] for m in ("recall_at_k", "mrr")}
    if max(drops.values()) <= th.max_drop:
        return None
    return {
        "reason": "active version regressed",
        "current": cur,
        "reference": ref,
        "reference_sources": {str(s): refs[s][1] for s in common},
        "drop": drops,
        "eval_sets": sorted(str(s) for s in common),
        "current_result_ids": sorted(str(latest[s]["id"]) for s in common),
    }


def _upsert(
    conn, tenant_id: str, project_id: str, kind: str, from_id, to_id, evidence: dict
) -> Suggestion:
    table = T["rag_rollback_suggestions"]
    open_row = conn.execute(
        select(table.c.id).where(
            table.c.tenant_id == tenant_id,
            table.c.project_id == project_id,
            table.c.kind == kind,
            table.c.status == "open",
            table.c.from_version_id.is_not_distinct_from(from_id),
            table.c.to_version_id.is_not_distinct_from(to_id),
        )
    ).scalar()
    if open_row is not None:
        conn.execute(update(table).where(table.c.id == open_row).values(evidence=evidence))
        return Suggestion(open_row, kind, from_id, to_id, evidence, False)
    sid = conn.execute(
        insert(table)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            project_id=project_id,
            trace_id=current_trace_id(),
            kind=kind,
            from_version_id=from_id,
            to_version_id=to_id,
            evidence=evidence,
            status="open",
        )
        .returning(table.c.id)
    ).scalar_one()
    emit(
        conn,
        EventTopic.RAG_SUGGESTION,
        tenant_id=tenant_id,
        project_id=project_id,
        trace_id=current_trace_id(),
        stage=Stage.INDEX,
        payload={
            "suggestion_id": str(sid),
            "kind": kind,
            "from_version_id": str(from_id) if from_id else None,
            "to_version_id": str(to_id) if to_id else None,
            "summary": evidence.get("reason"),
        },
    )
    return Suggestion(sid, kind, from_id, to_id, evidence, True)


def _dismiss_others(conn, tenant_id: str, project_id: str, keep: set[uuid.UUID]) -> None:
    """Open suggestions the latest evaluation round no longer supports are dismissed."""
    table = T["rag_rollback_suggestions"]
    rows = conn.execute(
        select(table.c.id, table.c.evidence).where(
            table.c.tenant_id == tenant_id,
            table.c.project_id == project_id,
            table.c.status == "open",
        )
    ).all()
    for sid, evidence in rows:
        if sid not in keep:
            conn.execute(
                update(table)
                .where(table.c.id == sid)
                .values(
                    status="dismissed",
                    evidence={
                        **evidence,
                        "decided_by": "system",
                        "decision_reason": "no longer supported by the latest evaluation",
                    },
                )
            )


def suggest(
    engine: Engine, tenant_id: str, project_id: str, th: Thresholds = Thresholds()
) -> list[Suggestion]:
    """Write (or refresh) the suggestions the latest results justify; returns them."""
    versions = governance.list_versions(tenant_id, project_id, engine=engine)
    active = next((v for v in versions if v.status == EmbeddingStatus.ACTIVE), None)
    out: list[Suggestion] = []
    thresholds = {"max_drop": th.max_drop, "min_gain": th.min_gain, "min_queries": th.min_queries}
    with engine.begin() as conn:
        if active is not None:
            prev = _previous_active(versions)
            reg = _regression(engine, active, prev, th)
            if reg is not None:
                reg |= {
                    "thresholds": thresholds,
                    "from_name": active.name,
                    "to_name": prev.name if prev else None,
                }
                out.append(
                    _upsert(
                        conn,
                        tenant_id,
                        project_id,
                        "rollback",
                        active.id,
                        prev.id if prev else None,
                        reg,
                    )
                )
        best: tuple[float, float, VersionInfo, dict] | None = None
        for cand in (v for v in versions if v.status == EmbeddingStatus.CANDIDATE):
            if active is None:
                mine = _usable(_per_set(engine, cand.id), th)
                if not mine:
                    continue
                agg = _aggregate(mine, set(mine))
                ev = {
                    "reason": "no active version; best evaluated candidate",
                    "candidate": agg,
                    "eval_sets": sorted(str(s) for s in mine),
                }
                key = (agg["recall_at_k"], agg["mrr"])
            else:
                cmp = compare(engine, active.id, cand.id, th)
                if cmp is None:
                    continue
                gain = {m: cmp["b"][m] - cmp["a"][m] for m in ("recall_at_k", "mrr")}
                beats = gain["recall_at_k"] >= th.min_gain or (
                    abs(gain["recall_at_k"]) < 1e-9 and gain["mrr"] >= th.min_gain
                )
                if not beats:
                    continue
                ev = {
                    "reason": "candidate beats the active version",
                    "active": cmp["a"],
                    "candidate": cmp["b"],
                    "gain": gain,
                    "eval_sets": cmp["eval_sets"],
                }
                key = (cmp["b"]["recall_at_k"], cmp["b"]["mrr"])
            if best is None or key > best[:2]:
                best = (*key, cand, ev)
        if best is not None:
            cand, ev = best[2], best[3]
            ev |= {
                "thresholds": thresholds,
                "to_name": cand.name,
                "from_name": active.name if active else None,
            }
            out.append(
                _upsert(
                    conn,
                    tenant_id,
                    project_id,
                    "promote",
                    active.id if active else None,
                    cand.id,
                    ev,
                )
            )
        _dismiss_others(conn, tenant_id, project_id, {s.id for s in out})
    return out


def list_suggestions(
    engine: Engine, tenant_id: str, project_id: str, *, status: str | None = "open"
) -> list[dict[str, Any]]:
    table = T["rag_rollback_suggestions"]
    q = select(table).where(table.c.tenant_id == tenant_id, table.c.project_id == project_id)
    if status:
        q = q.where(table.c.status == status)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q.order_by(table.c.created_at.desc()))]


def _get_open(engine: Engine, suggestion_id: uuid.UUID | str) -> dict[str, Any]:
    table = T["rag_rollback_suggestions"]
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == uuid.UUID(str(suggestion_id)))).first()
    if row is None:
        raise NFError("NF-INPUT-010", f"no suggestion {suggestion_id}")
    if row.status != "open":
        raise NFError("NF-RAG-003", f"suggestion {suggestion_id} is {row.status}")
    return dict(row._mapping)


def accept(engine: Engine, suggestion_id: uuid.UUID | str, by: str, gate=None) -> VersionInfo:
    """Carry a suggestion out: a rollback directly, a promotion through the gate."""
    s = _get_open(engine, suggestion_id)
    reason = f"suggestion {s['id']}: {s['evidence'].get('reason')}"
    if s["kind"] == "rollback":
        info = governance.rollback(
            s["tenant_id"],
            s["project_id"],
            by,
            reason,
            to_version_id=s["to_version_id"],
            engine=engine,
        )
    else:
        info = governance.promote(
            s["to_version_id"], by, reason, gate, engine=engine, evidence=s["evidence"]
        )
    _set_status(engine, s, "accepted", by)
    return info


def dismiss(engine: Engine, suggestion_id: uuid.UUID | str, by: str, reason: str) -> None:
    s = _get_open(engine, suggestion_id)
    _set_status(engine, s, "dismissed", by, reason)


def _set_status(engine: Engine, s: dict, status: str, by: str, reason: str | None = None) -> None:
    table = T["rag_rollback_suggestions"]
    with engine.begin() as conn:
        conn.execute(
            update(table)
            .where(table.c.id == s["id"])
            .values(
                status=status,
                evidence={
                    **s["evidence"],
                    "decided_by": by,
                    "decision": status,
                    "decision_reason": reason,
                },
            )
        )
