"""SKILL_17 measurements: the metrics an experiment can test, the observations of each arm and
SKILL_17's test on them. Read-only, so the promotion gate can evaluate a running experiment without
importing the experiment lifecycle (which opens proposals, which run the gate)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from sqlalchemy import Connection, select, text

from nf_skills import s17_experiment, s22_feedback
from nf_skills.contracts import ExperimentDecision, FeedbackItem
from shared.errors import NFError
from shared.models import Base

T = Base.metadata.tables

VARIANTS = ("control", "candidate")
CONTENT_PREFIX = "content:"


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


def observed_skill(exp: Any) -> str | None:
    """The skill whose jobs are observed: prompt targets are `SKILL_NN/<template name>`; a
    provider experiment may target a capability (e.g. `image`) rather than a skill."""
    target = exp.skill_id or ""
    skill = target.split("/", 1)[0]
    return skill if skill.startswith("SKILL_") else None


def arm_ref(exp: Any, variant: str) -> str:
    return exp.control_ref if variant == "control" else exp.candidate_ref


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
    skill = observed_skill(exp)
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
    if exp.kind == "skill_version" and observed_skill(exp):
        rows = conn.execute(
            select(*cols).where(
                *scope,
                f.c.skill_id == observed_skill(exp),
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
        by_version = {v: [i for i in items if i.skill_version == arm_ref(exp, v)] for v in VARIANTS}
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
                skill_version=arm_ref(exp, r.variant),
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
            "ref": arm_ref(exp, v),
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
