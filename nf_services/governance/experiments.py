"""SKILL_17 A/B experiments over skill versions, prompt template versions or providers.

- A unit is one chapter of one novel, `<partition_key>:<chapter_index>`. Its variant is SKILL_17's
  hash of (experiment id, unit), persisted in `variant_assignments` on first use so the answer
  stays fixed even if the weights change later; the pipeline asks `ref_for_unit` which version
  to run, so both variants are materialized side by side across units.
- An observation is the latest job of the experiment's skill for an assigned unit. For skill
  versions and providers the job must have used the ref of the unit's variant (a unit served by
  the other version, e.g. from the cache, is left out rather than counted in the wrong arm);
  prompt templates leave no trace on a job, so for them only jobs since the experiment started
  count, under the unit's assignment.
- Metrics per variant: gate pass (the unit's SKILL_16/18 outcomes all passed; a failed job counts
  as a failure), content metrics (the SKILL_16 rule values), cost (usage_ledger), latency
  (jobs.duration_ms) and user ratings (feedback, via SKILL_22).
- The decision is SKILL_17's test on the experiment's metric; a "promote_candidate" decision opens
  a promotion proposal (submitted for review, never auto-approved).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from nf_services.governance.roles import SYSTEM, require_role
from nf_skills import s17_experiment, s22_feedback
from nf_skills.contracts import ExperimentDecision, FeedbackItem
from shared import telemetry
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import ExperimentStatus, MemberRole
from shared.models.governance import EXPERIMENT_KINDS
from shared.slugs import validate_slug

T = Base.metadata.tables

VARIANTS = ("control", "candidate")
CONTENT_PREFIX = "content:"
EDITORS = frozenset({MemberRole.OWNER, MemberRole.EDITOR})


@dataclass(frozen=True)
class MetricSpec:
    kind: Literal["proportion", "continuous"]
    higher_is_better: bool
    description: str


METRICS: dict[str, MetricSpec] = {
    "gate_pass": MetricSpec("proportion", True, "unit passed SKILL_16 and SKILL_18 (0/1)"),
    "latency_ms": MetricSpec("continuous", False, "job duration of the skill, ms"),
    "cost_usd": MetricSpec("continuous", False, "provider cost of the skill's job, USD"),
    "rating": MetricSpec("continuous", True, "user rating 1-5 (SKILL_22 feedback)"),
}


def metric_spec(metric: str) -> MetricSpec:
    """The test to run on `metric`; `content:<rule>` is a SKILL_16 rule value, higher better."""
    if metric in METRICS:
        return METRICS[metric]
    if metric.startswith(CONTENT_PREFIX) and len(metric) > len(CONTENT_PREFIX):
        return MetricSpec("continuous", True, f"SKILL_16 rule {metric[len(CONTENT_PREFIX) :]}")
    known = ", ".join([*METRICS, CONTENT_PREFIX + "<rule>"])
    raise NFError("NF-INPUT-001", f"unknown experiment metric {metric!r}; known: {known}")


def unit_id(partition_key: str, chapter_index: int) -> str:
    return f"{partition_key}:{chapter_index}"


def _skill_of(exp: Any) -> str | None:
    """The skill whose jobs are observed: prompt targets are `SKILL_NN/<template name>`; a
    provider experiment may target a capability (e.g. `image`) rather than a skill."""
    target = exp.skill_id or ""
    skill = target.split("/", 1)[0]
    return skill if skill.startswith("SKILL_") else None


def _ref(exp: Any, variant: str) -> str:
    return exp.control_ref if variant == "control" else exp.candidate_ref


def as_dict(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    if isinstance(d.get("status"), ExperimentStatus):
        d["status"] = d["status"].value
    return d


# -- lifecycle ------------------------------------------------------------------------------
def find_experiment(
    conn: Connection,
    ref: str | uuid.UUID,
    *,
    tenant_id: str | None = None,
    project_id: str | None = None,
    lock: bool = False,
) -> Any:
    """An experiment by id, or by name within a tenant/project."""
    e = T["experiments"]
    try:
        cond = [e.c.id == (ref if isinstance(ref, uuid.UUID) else uuid.UUID(str(ref)))]
    except ValueError:
        if tenant_id is None or project_id is None:
            raise NFError(
                "NF-INPUT-001", "an experiment name needs its tenant and project"
            ) from None
        cond = [e.c.tenant_id == tenant_id, e.c.project_id == project_id, e.c.name == str(ref)]
    stmt = select(e).where(*cond)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NFError("NF-INPUT-010", f"no experiment {ref!r}")
    return row


def create_experiment(
    engine: Engine,
    *,
    tenant_id: str,
    project_id: str,
    name: str,
    target: str,
    control_ref: str,
    candidate_ref: str,
    metric: str = "gate_pass",
    kind: str = "skill_version",
    min_samples: int = 30,
    weights: tuple[float, float] | None = None,
    actor: str = SYSTEM,
    trace_id: str | None = None,
) -> dict[str, Any]:
    """A running experiment (owner/editor or automation). Names are slugs: they become the
    partition keys of the experiment assets."""
    validate_slug(name, "experiment name")
    metric_spec(metric)
    if kind not in EXPERIMENT_KINDS:
        raise NFError("NF-INPUT-001", f"experiment kind must be one of {EXPERIMENT_KINDS}")
    if not control_ref or not candidate_ref or control_ref == candidate_ref:
        raise NFError("NF-INPUT-001", "control and candidate must be two different refs")
    if min_samples < 2:
        raise NFError("NF-INPUT-001", "min_samples must be at least 2")
    if weights is not None:  # validated by SKILL_17 now rather than at the first assignment
        s17_experiment.assign_variant("probe", "probe", list(VARIANTS), list(weights))
    e = T["experiments"]
    with engine.begin() as conn:
        who = require_role(
            conn, actor, tenant_id, project_id, EDITORS, "create experiments", system_allowed=True
        )
        ctx = telemetry.current()
        values = {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "project_id": project_id,
            "trace_id": trace_id or (ctx.trace_id if ctx else telemetry.new_trace_id()),
            "name": name,
            "kind": kind,
            "skill_id": target,
            "control_ref": control_ref,
            "candidate_ref": candidate_ref,
            "status": ExperimentStatus.RUNNING,
            "metric": metric,
            "min_samples": min_samples,
            "result": {
                "config": {"weights": list(weights) if weights else None, "created_by": who}
            },
        }
        try:
            with conn.begin_nested():
                conn.execute(pg_insert(e).values(values))
        except IntegrityError as exc:
            raise NFError(
                "NF-DB-002", f"experiment {name!r} already exists in {tenant_id}/{project_id}"
            ) from exc
        return as_dict(find_experiment(conn, values["id"]))


def _weights(exp: Any) -> list[float] | None:
    cfg = (exp.result or {}).get("config") or {}
    return cfg.get("weights")


def assign_units(
    engine: Engine,
    experiment: str | uuid.UUID,
    units: list[str],
    *,
    tenant_id: str | None = None,
    project_id: str | None = None,
) -> dict[str, str]:
    """unit -> variant ('control'/'candidate'), persisted; an existing assignment is kept."""
    va = T["variant_assignments"]
    with engine.begin() as conn:
        exp = find_experiment(conn, experiment, tenant_id=tenant_id, project_id=project_id)
        if exp.status not in (ExperimentStatus.DRAFT, ExperimentStatus.RUNNING):
            raise NFError(
                "NF-GOV-001",
                f"experiment {exp.name} is {exp.status.value}; "
                "units can only join a running experiment",
            )
        unique_units = list(dict.fromkeys(units))
        if not unique_units:
            return {}
        weights = _weights(exp)
        rows = [
            {
                "id": uuid.uuid4(),
                "tenant_id": exp.tenant_id,
                "project_id": exp.project_id,
                "trace_id": exp.trace_id,
                "experiment_id": exp.id,
                "unit_id": u,
                "variant": s17_experiment.assign_variant(str(exp.id), u, list(VARIANTS), weights),
            }
            for u in unique_units
        ]
        conn.execute(
            pg_insert(va)
            .values(rows)
            .on_conflict_do_nothing(constraint="uq_variant_assignments_unit")
        )
        stored = conn.execute(
            select(va.c.unit_id, va.c.variant).where(
                va.c.experiment_id == exp.id, va.c.unit_id.in_(unique_units)
            )
        ).all()
    return dict(stored)


def ref_for_unit(
    engine: Engine,
    experiment: str | uuid.UUID,
    unit: str,
    *,
    tenant_id: str | None = None,
    project_id: str | None = None,
) -> str:
    """The version (or provider) the pipeline should run for `unit` under this experiment.
    Once the experiment is over, units keep their arm and new units get the control."""
    with engine.connect() as conn:
        exp = find_experiment(conn, experiment, tenant_id=tenant_id, project_id=project_id)
    if exp.status in (ExperimentStatus.DRAFT, ExperimentStatus.RUNNING):
        variant = assign_units(engine, exp.id, [unit])[unit]
        return _ref(exp, variant)
    va = T["variant_assignments"]
    with engine.connect() as conn:
        variant = conn.execute(
            select(va.c.variant).where(va.c.experiment_id == exp.id, va.c.unit_id == unit)
        ).scalar()
    return _ref(exp, variant or "control")


def chapter_versions(
    engine: Engine, tenant_id: str, project_id: str, skill_id: str, units: list[str]
) -> dict[str, tuple[str, dict[str, Any]]]:
    """unit -> (version ref, its skill_versions config) under the project's running
    skill-version experiment on `skill_id`; empty when none runs (the code's version serves)."""
    e, sv = T["experiments"], T["skill_versions"]
    with engine.connect() as conn:
        exp = conn.execute(
            select(e)
            .where(
                e.c.tenant_id == tenant_id,
                e.c.project_id == project_id,
                e.c.skill_id == skill_id,
                e.c.kind == "skill_version",
                e.c.status == ExperimentStatus.RUNNING,
            )
            .order_by(e.c.created_at)
            .limit(1)
        ).first()
        if exp is None or not units:
            return {}
        configs = dict(
            conn.execute(
                select(sv.c.version, sv.c.config).where(
                    sv.c.tenant_id == tenant_id,
                    sv.c.project_id == project_id,
                    sv.c.skill_id == skill_id,
                    sv.c.version.in_([exp.control_ref, exp.candidate_ref]),
                )
            ).all()
        )
    variants = assign_units(engine, exp.id, units)
    return {u: (ref, configs.get(ref) or {}) for u, v in variants.items() for ref in [_ref(exp, v)]}


# -- observations ---------------------------------------------------------------------------
def observations(conn: Connection, exp: Any) -> pd.DataFrame:
    """One row per observed unit: unit_id, variant, status, latency_ms, cost_usd, gate_pass and
    one `content:<rule>` column per SKILL_16 rule seen."""
    params: dict[str, Any] = {
        "eid": exp.id,
        "t": exp.tenant_id,
        "p": exp.project_id,
        "c": exp.control_ref,
        "k": exp.candidate_ref,
        "since": exp.created_at,
    }
    where = [
        "j.tenant_id = :t",
        "j.project_id = :p",
        "j.chapter_index IS NOT NULL",
        "j.status IN ('succeeded', 'failed')",
    ]
    skill = _skill_of(exp)
    if skill:
        where.append("j.skill_id = :skill")
        params["skill"] = skill
    assigned_ref = "CASE va.variant WHEN 'control' THEN :c ELSE :k END"
    if exp.kind == "skill_version":
        where.append(f"j.skill_version = {assigned_ref}")
    elif exp.kind == "provider":
        where.append(f"j.provider = {assigned_ref}")
    else:
        where.append("j.updated_at >= :since")
    sql = f"""
        SELECT DISTINCT ON (va.unit_id) va.unit_id, va.variant, j.id AS job_id, j.run_id,
               j.chapter_index, j.status::text AS status, j.duration_ms
        FROM jobs j
        JOIN novels n ON n.id = j.novel_id
        JOIN variant_assignments va
          ON va.experiment_id = :eid AND va.unit_id = n.partition_key || ':' || j.chapter_index
        WHERE {" AND ".join(where)}
        ORDER BY va.unit_id, j.updated_at DESC
    """
    jobs = pd.DataFrame(conn.execute(text(sql), params).mappings().all())
    columns = ["unit_id", "variant", "status", "latency_ms", "cost_usd", "gate_pass"]
    if jobs.empty:
        return pd.DataFrame(columns=columns)
    job_ids = list(jobs["job_id"])
    costs = dict(
        conn.execute(
            text(
                "SELECT job_id, sum(cost_usd) FROM usage_ledger WHERE job_id = ANY(:ids) "
                "GROUP BY job_id"
            ),
            {"ids": job_ids},
        ).all()
    )
    gates = conn.execute(
        text(
            "SELECT run_id, chapter_index, gate, passed, metrics FROM gate_results "
            "WHERE run_id = ANY(:runs)"
        ),
        {"runs": [r for r in jobs["run_id"].dropna().unique()]},
    ).all()
    by_run: dict[uuid.UUID, list[Any]] = {}
    for g in gates:
        by_run.setdefault(g.run_id, []).append(g)
    out: list[dict[str, Any]] = []
    for job in jobs.itertuples(index=False):
        failed = job.status == "failed"
        mine = [
            g
            for g in by_run.get(job.run_id, [])
            if g.chapter_index is None or g.chapter_index == job.chapter_index
        ]
        row: dict[str, Any] = {
            "unit_id": job.unit_id,
            "variant": job.variant,
            "status": job.status,
            "latency_ms": float(job.duration_ms)
            if not failed and job.duration_ms is not None and not pd.isna(job.duration_ms)
            else math.nan,
            "cost_usd": float(costs.get(job.job_id, 0) or 0),
            "gate_pass": 0.0
            if failed
            else (float(all(g.passed for g in mine)) if mine else math.nan),
        }
        for g in mine:
            if g.gate == "SKILL_16" and not failed:
                for rule, value in (g.metrics or {}).items():
                    row[CONTENT_PREFIX + rule] = float(value)
        out.append(row)
    return pd.DataFrame(out)


def _feedback_items(conn: Connection, exp: Any) -> dict[str, list[FeedbackItem]]:
    """Ratings per variant: by skill version for skill-version experiments, else ratings whose
    target is an assigned unit (the only link a provider or template has to a rating)."""
    f, va = T["feedback"], T["variant_assignments"]
    cols = [
        f.c.target_kind,
        f.c.target_id,
        f.c.rating,
        f.c.tags,
        f.c.comment,
        f.c.skill_id,
        f.c.skill_version,
    ]
    scope = [
        f.c.tenant_id == exp.tenant_id,
        f.c.project_id == exp.project_id,
        f.c.rating.is_not(None),
    ]
    out: dict[str, list[FeedbackItem]] = {v: [] for v in VARIANTS}
    if exp.kind == "skill_version" and _skill_of(exp):
        rows = conn.execute(
            select(*cols).where(
                *scope,
                f.c.skill_id == _skill_of(exp),
                f.c.skill_version.in_([exp.control_ref, exp.candidate_ref]),
            )
        ).all()
        items = [
            FeedbackItem(
                target_kind=r.target_kind,
                target_id=r.target_id,
                rating=r.rating,
                tags=list(r.tags or []),
                comment=r.comment or "",
                skill_id=r.skill_id,
                skill_version=r.skill_version,
            )
            for r in rows
        ]
        by_version = {v: [i for i in items if i.skill_version == _ref(exp, v)] for v in VARIANTS}
        return by_version
    rows = conn.execute(
        select(*cols, va.c.variant)
        .join(va, (va.c.unit_id == f.c.target_id) & (va.c.experiment_id == exp.id))
        .where(*scope)
    ).all()
    for r in rows:
        out[r.variant].append(
            FeedbackItem(
                target_kind=r.target_kind,
                target_id=r.target_id,
                rating=r.rating,
                tags=list(r.tags or []),
                comment=r.comment or "",
                skill_id=exp.skill_id or "",
                skill_version=_ref(exp, r.variant),
            )
        )
    return out


def samples(
    conn: Connection, exp: Any, metric: str | None = None
) -> tuple[list[float], list[float]]:
    """(control, candidate) sample values of `metric` (default: the experiment's)."""
    metric = metric or exp.metric
    metric_spec(metric)
    if metric == "rating":
        items = _feedback_items(conn, exp)
        rated = {
            v: s22_feedback.ratings_by_version(items[v], items[v][0].skill_id) if items[v] else {}
            for v in VARIANTS
        }
        return (
            rated["control"].get(exp.control_ref, []),
            rated["candidate"].get(exp.candidate_ref, []),
        )
    obs = observations(conn, exp)
    if obs.empty or metric not in obs.columns:
        return [], []
    col = obs[["variant", metric]].dropna()
    return (
        [float(x) for x in col.loc[col["variant"] == "control", metric]],
        [float(x) for x in col.loc[col["variant"] == "candidate", metric]],
    )


def variant_summary(conn: Connection, exp: Any) -> dict[str, dict[str, Any]]:
    """Every metric per variant (what the UI and the proposal show next to the decision)."""
    obs = observations(conn, exp)
    feedback = _feedback_items(conn, exp)
    out: dict[str, dict[str, Any]] = {}
    for v in VARIANTS:
        part = obs[obs["variant"] == v] if not obs.empty else obs

        def mean(col: str, part: pd.DataFrame = part) -> float | None:
            if col not in part.columns:
                return None
            s = part[col].dropna()
            return round(float(s.mean()), 6) if len(s) else None

        fb = s22_feedback.feedback_metrics(feedback[v])
        out[v] = {
            "ref": _ref(exp, v),
            "units": int(len(part)),
            "failed_jobs": int((part["status"] == "failed").sum()) if len(part) else 0,
            "gate_pass_rate": mean("gate_pass"),
            "latency_ms_mean": mean("latency_ms"),
            "cost_usd_mean": mean("cost_usd"),
            "content": {
                c[len(CONTENT_PREFIX) :]: mean(c)
                for c in part.columns
                if c.startswith(CONTENT_PREFIX)
            },
            "feedback": fb.groups[0].model_dump() if fb.groups else {"n": 0},
        }
    return out


# -- decision -------------------------------------------------------------------------------
def evaluate(conn: Connection, exp: Any, *, alpha: float = 0.05) -> ExperimentDecision:
    spec = metric_spec(exp.metric)
    control, candidate = samples(conn, exp)
    return s17_experiment.evaluate_experiment(
        control,
        candidate,
        metric_kind=spec.kind,
        min_samples=exp.min_samples,
        alpha=alpha,
        higher_is_better=spec.higher_is_better,
    )


def decide_experiment(
    engine: Engine,
    experiment: str | uuid.UUID,
    *,
    tenant_id: str | None = None,
    project_id: str | None = None,
    alpha: float = 0.05,
    open_proposal: bool = True,
    actor: str = SYSTEM,
    strict: bool = True,
) -> dict[str, Any]:
    """Test the experiment's metric and store p-value, effect size and decision.

    Without enough samples the experiment stays running with the interim numbers stored, and
    (strict) NF-GOV-003 is raised. A "promote_candidate" decision opens a proposal (draft ->
    in_review, by `actor`) unless `open_proposal` is False.
    """
    e = T["experiments"]
    with engine.begin() as conn:
        exp = find_experiment(
            conn, experiment, tenant_id=tenant_id, project_id=project_id, lock=True
        )
        require_role(
            conn,
            actor,
            exp.tenant_id,
            exp.project_id,
            EDITORS,
            "decide experiments",
            system_allowed=True,
        )
        if exp.status not in (ExperimentStatus.DRAFT, ExperimentStatus.RUNNING):
            raise NFError("NF-GOV-001", f"experiment {exp.name} is already {exp.status.value}")
        decision = evaluate(conn, exp, alpha=alpha)
        result = dict(exp.result or {})
        result.update(
            {
                "metric": exp.metric,
                "decision": decision.model_dump(),
                "variants": variant_summary(conn, exp),
                "evaluated_at": datetime.now(UTC).isoformat(),
            }
        )
        conclusive = decision.decision != "insufficient_data"
        conn.execute(
            update(e)
            .where(e.c.id == exp.id)
            .values(
                p_value=decision.p_value,
                effect_size=decision.effect_size,
                decision=decision.decision,
                result=result,
                status=ExperimentStatus.DECIDED if conclusive else ExperimentStatus.RUNNING,
                updated_at=datetime.now(UTC),
            )
        )
    if not conclusive:
        if strict:
            raise NFError(
                "NF-GOV-003", f"experiment {exp.name}: {decision.reason}", experiment=exp.name
            )
        return get_experiment(engine, exp.id)
    if decision.decision == "promote_candidate" and open_proposal:
        from nf_services.governance import proposals

        prop = proposals.create_proposal(
            engine,
            tenant_id=exp.tenant_id,
            project_id=exp.project_id,
            kind=exp.kind,
            target=exp.skill_id or "",
            from_ref=exp.control_ref,
            to_ref=exp.candidate_ref,
            actor=actor,
            reason=f"SKILL_17 experiment {exp.name}: {decision.reason}",
            idempotency_key=f"experiment:{exp.id}",
            trace_id=exp.trace_id,
        )
        if prop["status"] == "draft":
            prop = proposals.transition(
                engine, prop["id"], "submit", actor=actor, reason=f"opened by experiment {exp.name}"
            )
        with engine.begin() as conn:
            result["proposal_id"] = str(prop["id"])
            conn.execute(update(e).where(e.c.id == exp.id).values(result=result))
    return get_experiment(engine, exp.id)


def get_experiment(
    engine: Engine,
    experiment: str | uuid.UUID,
    *,
    tenant_id: str | None = None,
    project_id: str | None = None,
) -> dict[str, Any]:
    with engine.connect() as conn:
        return as_dict(
            find_experiment(conn, experiment, tenant_id=tenant_id, project_id=project_id)
        )
