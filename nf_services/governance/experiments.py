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

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from nf_services.governance.experiment_metrics import (
    VARIANTS,
    arm_ref,
    evaluate,
    metric_spec,
    variant_summary,
)
from nf_services.governance.roles import SYSTEM, require_role
from nf_skills import s17_experiment
from shared import telemetry
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import ExperimentStatus, MemberRole
from shared.models.governance import EXPERIMENT_KINDS
from shared.slugs import validate_slug

T = Base.metadata.tables

EDITORS = frozenset({MemberRole.OWNER, MemberRole.EDITOR})


def unit_id(partition_key: str, chapter_index: int) -> str:
    return f"{partition_key}:{chapter_index}"


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
        return arm_ref(exp, variant)
    va = T["variant_assignments"]
    with engine.connect() as conn:
        variant = conn.execute(
            select(va.c.variant).where(va.c.experiment_id == exp.id, va.c.unit_id == unit)
        ).scalar()
    return arm_ref(exp, variant or "control")


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
    return {
        u: (ref, configs.get(ref) or {}) for u, v in variants.items() for ref in [arm_ref(exp, v)]
    }


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
