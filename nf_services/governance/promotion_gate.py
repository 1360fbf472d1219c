"""The promotion gate: what must hold before a proposal's candidate replaces the current ref.

Gates by proposal kind:

- skill_version / prompt_template / provider: the SKILL_16 content gate and the SKILL_18 media
  gate each pass on at least `min_pass_rate` of the candidate's observed chapters (with at least
  `min_gate_samples` of them; a failed job of the candidate counts as a failed chapter), and the
  SKILL_17 experiment comparing the two refs decided "promote_candidate";
- embedding_version: no regression in RAG evaluation - on every eval set and k evaluated for both
  the baseline and the candidate, recall@k and MRR drop by no more than `rag_tolerance` - plus
  the experiment if one compares the two versions.

Each gate reports what it observed, the threshold and the shortfall, so a refusal says which gate
failed and by how much. Thresholds come from `GatePolicy`, overridable per project in
`projects.config["governance"]`.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from nf_services.governance.experiment_metrics import evaluate
from nf_skills.contracts import ExperimentDecision
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import EmbeddingStatus, ExperimentStatus

T = Base.metadata.tables

CONTENT = "content_gate"
MEDIA = "media_gate"
RAG = "rag_eval"
EXPERIMENT = "experiment"
GATE_SKILL = {CONTENT: "SKILL_16", MEDIA: "SKILL_18"}


@dataclass(frozen=True)
class GatePolicy:
    min_pass_rate: float = 0.95
    min_gate_samples: int = 10
    rag_tolerance: float = 0.0
    rag_metrics: tuple[str, ...] = ("recall_at_k", "mrr")
    require_experiment: bool = True
    alpha: float = 0.05

    @classmethod
    def for_project(cls, conn: Connection, tenant_id: str, project_id: str) -> GatePolicy:
        p = T["projects"]
        config = conn.execute(
            select(p.c.config).where(p.c.tenant_id == tenant_id, p.c.id == project_id)
        ).scalar()
        overrides = (config or {}).get("governance") or {}
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in overrides.items() if k in known}
        if "rag_metrics" in values:
            values["rag_metrics"] = tuple(values["rag_metrics"])
        return cls(**values)


@dataclass
class GateCheck:
    gate: str
    passed: bool
    detail: str
    observed: float | None = None
    threshold: float | None = None
    shortfall: float | None = None  # how far from passing (0 or None when passed)
    n: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class GateReport:
    passed: bool
    checks: list[GateCheck]
    subject: dict[str, Any]
    policy: dict[str, Any]
    evaluated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def failed(self) -> list[GateCheck]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        if self.passed:
            return "all gates passed: " + ", ".join(c.gate for c in self.checks)
        return "; ".join(f"{c.gate} failed: {c.detail}" for c in self.failed)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["failed"] = [c.gate for c in self.failed]
        return doc


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


# -- SKILL_16 / SKILL_18 pass rates ---------------------------------------------------------
def _job_filter(kind: str, target: str) -> tuple[str, dict[str, Any]]:
    if kind == "skill_version":
        return "j.skill_id = :target AND j.skill_version = :ref", {"target": target}
    if kind == "provider":
        if target.startswith("SKILL_"):
            return "j.provider = :ref AND j.skill_id = :target", {"target": target}
        return "j.provider = :ref", {}
    raise ValueError(kind)


def _pass_counts_from_jobs(
    conn: Connection, tenant_id: str, project_id: str, kind: str, target: str, ref: str, gate: str
) -> tuple[int, int, int]:
    """(chapters checked, chapters passed, failed jobs) over the runs that used `ref`."""
    cond, params = _job_filter(kind, target)
    params |= {"t": tenant_id, "p": project_id, "ref": ref, "gate": gate}
    cand = f"""
        SELECT j.run_id, j.chapter_index, j.status FROM jobs j
        WHERE j.tenant_id = :t AND j.project_id = :p AND j.run_id IS NOT NULL
          AND j.status IN ('succeeded', 'failed') AND {cond}
    """
    checked = conn.execute(
        text(f"""
        WITH cand AS ({cand})
        SELECT count(*), count(*) FILTER (WHERE passed) FROM (
            SELECT DISTINCT g.id, g.passed FROM cand c
            JOIN gate_results g ON g.run_id = c.run_id AND g.gate = :gate
             AND (c.chapter_index IS NULL OR g.chapter_index IS NULL
                  OR g.chapter_index = c.chapter_index)
            WHERE c.status = 'succeeded') AS x
    """),
        params,
    ).one()
    failed = conn.execute(
        text(f"""
        WITH cand AS ({cand})
        SELECT count(DISTINCT (c.run_id, c.chapter_index)) FROM cand c WHERE c.status = 'failed'
    """),
        params,
    ).scalar()
    return int(checked[0]), int(checked[1]), int(failed or 0)


def _pass_counts_from_experiment(
    conn: Connection, exp: Any | None, gate: str
) -> tuple[int, int, int]:
    """Prompt templates leave no mark on a job: their runs are the experiment's candidate units."""
    if exp is None:
        return 0, 0, 0
    row = conn.execute(
        text("""
        SELECT count(*), count(*) FILTER (WHERE g.passed) FROM gate_results g
        JOIN novels n ON n.id = g.novel_id
        JOIN variant_assignments va ON va.experiment_id = :eid AND va.variant = 'candidate'
         AND va.unit_id = n.partition_key || ':' || g.chapter_index
        WHERE g.gate = :gate AND g.updated_at >= :since
    """),
        {"eid": exp.id, "gate": gate, "since": exp.created_at},
    ).one()
    return int(row[0]), int(row[1]), 0


def pass_rate_check(
    gate_name: str, checked: int, passed: int, failed_jobs: int, policy: GatePolicy
) -> GateCheck:
    n = checked + failed_jobs
    skill = GATE_SKILL[gate_name]
    rate = passed / n if n else None
    data = {
        "skill": skill,
        "chapters_checked": checked,
        "chapters_passed": passed,
        "failed_jobs": failed_jobs,
    }
    if n < policy.min_gate_samples:
        return GateCheck(
            gate_name,
            False,
            f"{skill} saw {n} chapters of the candidate, needs at least "
            f"{policy.min_gate_samples} (short by {policy.min_gate_samples - n})",
            observed=_round(rate),
            threshold=policy.min_pass_rate,
            shortfall=float(policy.min_gate_samples - n),
            n=n,
            data=data,
        )
    assert rate is not None
    ok = rate >= policy.min_pass_rate
    detail = f"{skill} pass rate {rate:.3f} over {n} chapters " + (
        f">= {policy.min_pass_rate:.3f}"
        if ok
        else f"< {policy.min_pass_rate:.3f} (short by {policy.min_pass_rate - rate:.3f})"
    )
    return GateCheck(
        gate_name,
        ok,
        detail,
        observed=_round(rate),
        threshold=policy.min_pass_rate,
        shortfall=0.0 if ok else _round(policy.min_pass_rate - rate),
        n=n,
        data=data,
    )


# -- SKILL_17 experiment --------------------------------------------------------------------
def linked_experiment(
    conn: Connection,
    *,
    tenant_id: str,
    project_id: str,
    kind: str,
    target: str,
    from_ref: str | None,
    to_ref: str,
    idempotency_key: str | None = None,
) -> Any | None:
    """The experiment behind a proposal: the one that opened it, else the latest comparing the
    same refs of the same target."""
    e = T["experiments"]
    if idempotency_key and idempotency_key.startswith("experiment:"):
        try:
            eid = uuid.UUID(idempotency_key.split(":", 1)[1])
        except ValueError:
            eid = None
        if eid is not None:
            row = conn.execute(select(e).where(e.c.id == eid)).first()
            if row is not None:
                return row
    cond = [
        e.c.tenant_id == tenant_id,
        e.c.project_id == project_id,
        e.c.kind == kind,
        e.c.skill_id == target,
        e.c.candidate_ref == to_ref,
    ]
    if from_ref is not None:
        cond.append(e.c.control_ref == from_ref)
    return conn.execute(select(e).where(*cond).order_by(e.c.updated_at.desc()).limit(1)).first()


def experiment_check(
    conn: Connection, exp: Any | None, policy: GatePolicy, required: bool
) -> GateCheck:
    if exp is None:
        return GateCheck(
            EXPERIMENT,
            not required,
            "no SKILL_17 experiment compares these refs"
            + ("; one is required (run `nf experiment create`)" if required else " (not required)"),
        )
    if exp.status == ExperimentStatus.DECIDED and exp.result and "decision" in exp.result:
        decision = ExperimentDecision.model_validate(exp.result["decision"])
        source = "stored decision"
    elif exp.status in (ExperimentStatus.DRAFT, ExperimentStatus.RUNNING):
        decision = evaluate(conn, exp, alpha=policy.alpha)
        source = "evaluated now (experiment still running)"
    else:
        return GateCheck(
            EXPERIMENT,
            False,
            f"experiment {exp.name} was {exp.status.value}",
            data={"experiment": exp.name},
        )
    data = {
        "experiment": exp.name,
        "experiment_id": str(exp.id),
        "metric": exp.metric,
        "decision": decision.decision,
        "p_value": decision.p_value,
        "effect_size": decision.effect_size,
        "n_control": decision.n_control,
        "n_candidate": decision.n_candidate,
        "source": source,
    }
    n = min(decision.n_control, decision.n_candidate)
    if decision.decision == "promote_candidate":
        return GateCheck(
            EXPERIMENT,
            True,
            f"{exp.name}: {decision.reason}",
            observed=_round(decision.p_value),
            threshold=decision.alpha,
            shortfall=0.0,
            n=n,
            data=data,
        )
    if decision.decision == "insufficient_data":
        return GateCheck(
            EXPERIMENT,
            False,
            f"{exp.name}: {decision.reason} (short by {exp.min_samples - n} per variant)",
            observed=float(n),
            threshold=float(exp.min_samples),
            shortfall=float(exp.min_samples - n),
            n=n,
            data=data,
        )
    if decision.decision == "no_difference":
        p = decision.p_value if decision.p_value is not None else 1.0
        return GateCheck(
            EXPERIMENT,
            False,
            f"{exp.name}: no significant improvement; "
            f"{decision.reason} (p above alpha by {p - decision.alpha:.4g})",
            observed=_round(p),
            threshold=decision.alpha,
            shortfall=_round(p - decision.alpha),
            n=n,
            data=data,
        )
    effect = decision.effect_size or 0.0
    return GateCheck(
        EXPERIMENT,
        False,
        f"{exp.name}: the candidate is worse; {decision.reason} (effect size {effect:+.3f})",
        observed=_round(effect),
        threshold=0.0,
        shortfall=_round(abs(effect)),
        n=n,
        data=data,
    )


# -- RAG evaluation -------------------------------------------------------------------------
def _latest_evals(conn: Connection, version_id: uuid.UUID) -> dict[tuple[str, int], Any]:
    rows = conn.execute(
        text("""
        SELECT DISTINCT ON (eval_set_id, k) eval_set_id, k, recall_at_k, mrr, n_queries
        FROM rag_eval_results WHERE embedding_version_id = :v
        ORDER BY eval_set_id, k, created_at DESC
    """),
        {"v": version_id},
    ).all()
    return {(str(r.eval_set_id), int(r.k)): r for r in rows}


def rag_regression_check(
    conn: Connection,
    baseline_version_id: uuid.UUID | None,
    candidate_version_id: uuid.UUID,
    *,
    tolerance: float = 0.0,
    metrics: tuple[str, ...] = ("recall_at_k", "mrr"),
) -> GateCheck:
    """No metric drops by more than `tolerance` on any (eval set, k) evaluated for both."""
    cand = _latest_evals(conn, candidate_version_id)
    if not cand:
        return GateCheck(
            RAG,
            False,
            "the candidate embedding version has no RAG evaluation",
            n=0,
            threshold=-tolerance,
        )
    if baseline_version_id is None:
        return GateCheck(
            RAG, True, "no baseline embedding version: nothing to regress from", n=len(cand)
        )
    base = _latest_evals(conn, baseline_version_id)
    common = sorted(set(cand) & set(base))
    if not common:
        return GateCheck(
            RAG,
            False,
            "no eval set was evaluated for both the baseline and the candidate",
            n=0,
            threshold=-tolerance,
        )
    deltas = []
    for key in common:
        for m in metrics:
            deltas.append(
                {
                    "eval_set_id": key[0],
                    "k": key[1],
                    "metric": m,
                    "baseline": float(getattr(base[key], m)),
                    "candidate": float(getattr(cand[key], m)),
                    "delta": float(getattr(cand[key], m)) - float(getattr(base[key], m)),
                }
            )
    worst = min(deltas, key=lambda d: d["delta"])
    ok = worst["delta"] >= -tolerance - 1e-12
    detail = (
        f"worst change {worst['metric']}@{worst['k']} {worst['baseline']:.4f} -> "
        f"{worst['candidate']:.4f} ({worst['delta']:+.4f}) on eval set {worst['eval_set_id']}"
        + (
            ""
            if ok
            else f": regression beyond tolerance {tolerance:.4f} "
            f"by {-tolerance - worst['delta']:.4f}"
        )
    )
    return GateCheck(
        RAG,
        ok,
        detail,
        observed=_round(worst["delta"]),
        threshold=-tolerance,
        shortfall=0.0 if ok else _round(-tolerance - worst["delta"]),
        n=len(common),
        data={"comparisons": deltas[:50]},
    )


def _embedding_version(conn: Connection, tenant_id: str, project_id: str, ref: str | None) -> Any:
    ev = T["embedding_versions"]
    scope = [ev.c.tenant_id == tenant_id, ev.c.project_id == project_id]
    if ref is None:
        return conn.execute(select(ev).where(*scope, ev.c.status == EmbeddingStatus.ACTIVE)).first()
    try:
        cond = ev.c.id == uuid.UUID(ref)
    except ValueError:
        cond = ev.c.name == ref
    row = conn.execute(select(ev).where(*scope, cond)).first()
    if row is None:
        raise NFError("NF-INPUT-010", f"no embedding version {ref!r} in {tenant_id}/{project_id}")
    return row


# -- the gate -------------------------------------------------------------------------------
def evaluate_gate(
    conn: Connection,
    *,
    tenant_id: str,
    project_id: str,
    kind: str,
    target: str,
    from_ref: str | None,
    to_ref: str,
    idempotency_key: str | None = None,
    policy: GatePolicy | None = None,
) -> GateReport:
    """Run every gate that applies to this kind of change; never raises on a failed gate."""
    policy = policy or GatePolicy.for_project(conn, tenant_id, project_id)
    exp = linked_experiment(
        conn,
        tenant_id=tenant_id,
        project_id=project_id,
        kind=kind,
        target=target,
        from_ref=from_ref,
        to_ref=to_ref,
        idempotency_key=idempotency_key,
    )
    checks: list[GateCheck] = []
    if kind == "embedding_version":
        base = _embedding_version(conn, tenant_id, project_id, from_ref)
        cand = _embedding_version(conn, tenant_id, project_id, to_ref)
        checks.append(
            rag_regression_check(
                conn,
                base.id if base is not None else None,
                cand.id,
                tolerance=policy.rag_tolerance,
                metrics=policy.rag_metrics,
            )
        )
        if exp is not None:
            checks.append(experiment_check(conn, exp, policy, required=False))
    else:
        for name, skill in GATE_SKILL.items():
            if kind == "prompt_template":
                counts = _pass_counts_from_experiment(conn, exp, skill)
            else:
                counts = _pass_counts_from_jobs(
                    conn, tenant_id, project_id, kind, target, to_ref, skill
                )
            checks.append(pass_rate_check(name, *counts, policy))
        checks.append(experiment_check(conn, exp, policy, required=policy.require_experiment))
    subject = {
        "tenant_id": tenant_id,
        "project_id": project_id,
        "kind": kind,
        "target": target,
        "from_ref": from_ref,
        "to_ref": to_ref,
    }
    policy_doc = asdict(policy)
    policy_doc["rag_metrics"] = list(policy.rag_metrics)
    return GateReport(all(c.passed for c in checks), checks, subject, policy_doc)


def rag_promotion_gate(engine: Engine | None = None, policy: GatePolicy | None = None):
    """The gate for nf_services.rag.governance.promote(..., gate=...): refuses a candidate
    embedding version that regresses RAG eval against the active one, raising NF-GOV-002 with
    the comparison (which metric, by how much)."""

    def gate(request: Any) -> bool:
        from shared.db import get_engine

        eng = engine or get_engine()
        version, active = request.version, request.current_active
        with eng.connect() as conn:
            p = policy or GatePolicy.for_project(conn, version.tenant_id, version.project_id)
            check = rag_regression_check(
                conn,
                active.id if active else None,
                version.id,
                tolerance=p.rag_tolerance,
                metrics=p.rag_metrics,
            )
        if not check.passed:
            raise NFError(
                "NF-GOV-002",
                f"{version.name}: {check.gate} failed: {check.detail}",
                gate_report=asdict(check),
            )
        return True

    return gate
