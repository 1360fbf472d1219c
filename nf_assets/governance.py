"""Governance domain: the observer rollup (daily), SKILL_17 experiments and the index audit.

- `observer_rollup`: failures and costs aggregated into the observer tables every day; its check
  `error_code_coverage` fails below 95% of failures carrying a registered code.
- `experiment_decision`: one partition per experiment (`<tenant>.<project>.<name>`, added by the
  `experiment_partitions` sensor as experiments appear); a materialization runs SKILL_17's test
  and shows p-value, effect size and decision as metadata, and a "promote" decision opens a
  proposal. Its check `experiment_conclusive` warns while the samples are too few.
- `index_audit`: the key queries under EXPLAIN on a 100k-job synthetic copy of the schema; its
  check fails on a sequential scan where an index should serve.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
from sqlalchemy import select

from nf_services.database import DatabaseResource
from nf_services.governance import experiments as exp_api
from nf_services.governance import index_audit, observer
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import ExperimentStatus
from shared.slugs import SLUG_RE

GROUP = "governance"
GOVERNANCE_ASSETS = {
    dg.AssetKey(k) for k in ("observer_rollup", "experiment_decision", "index_audit")
}
experiments_partitions = dg.DynamicPartitionsDefinition(name="experiments")


def refuse_if_swept(context: dg.AssetExecutionContext) -> None:
    """Governance assets are maintenance with their own jobs and schedules. "Materialize all" on
    the global lineage page would sweep them into a backfill of every novel (the index audit
    seeds 100k rows): such a run fails at once, unretried, saying where to run it."""
    backfill_id = context.run.tags.get("dagster/backfill")
    backfill = context.instance.get_backfill(backfill_id) if backfill_id else None
    selected = set(backfill.asset_selection or []) if backfill else set()
    others = selected - GOVERNANCE_ASSETS
    if others:
        err = NFError(
            "NF-GOV-004",
            f"{context.asset_key.to_user_string()} was selected with "
            f"{len(others)} other asset(s) in backfill {backfill_id}; run it from its own job "
            "(observer_rollup_job, experiment_decisions) or its asset page alone",
        )
        raise dg.Failure(description=str(err), allow_retries=False)


def _meta(values: dict[str, Any]) -> dict[str, Any]:
    """Dagster metadata without empty values (None has no metadata type)."""
    return {k: v for k, v in values.items() if v is not None}


# -- observer -------------------------------------------------------------------------------
class ObserverConfig(dg.Config):
    days: int = 2  # the window ends today (UTC): yesterday and today by default
    tenant: str = ""  # empty: every tenant


@dg.asset(
    group_name=GROUP,
    description="Observer: failures by error code and costs by skill/provider per tenant, "
    "project and day (pandas rollup of jobs and usage_ledger).",
    check_specs=[
        dg.AssetCheckSpec(
            "error_code_coverage",
            asset="observer_rollup",
            description=f"failures with a registered code other than NF-INTERNAL-000 / all "
            f"failures >= {observer.COVERAGE_TARGET:.0%} (target 100%)",
        )
    ],
)
def observer_rollup(
    context: dg.AssetExecutionContext, config: ObserverConfig, db: DatabaseResource
) -> dg.MaterializeResult:
    refuse_if_swept(context)
    today = datetime.now(UTC).date()
    report = observer.rollup(
        db.engine(),
        today - timedelta(days=max(config.days, 1) - 1),
        today,
        tenant_id=config.tenant or None,
    )
    novels = report.novels[:20]
    return dg.MaterializeResult(
        metadata=_meta(
            {
                "window": f"{report.day_from} .. {report.day_to}",
                "error_rows": report.error_rows,
                "cost_rows": report.cost_rows,
                "failures": report.failures,
                "error_code_coverage": report.coverage,
                "cost_usd": float(report.cost_usd),
                "chapters": report.chapters,
                "cost_per_chapter_usd": float(report.cost_per_chapter)
                if report.cost_per_chapter is not None
                else None,
                "cost_per_novel": dg.MetadataValue.md(
                    "| novel | chapters | cost USD | per chapter |\n|---|---|---|---|\n"
                    + "\n".join(
                        f"| {n['tenant_id']}/{n['project_id']}/{n['novel_id'][:8]} | "
                        f"{n['chapters']} | {n['cost_usd']} | {n['cost_per_chapter']} |"
                        for n in novels
                    )
                )
                if novels
                else None,
            }
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name="error_code_coverage",
                passed=report.coverage >= observer.COVERAGE_TARGET,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "coverage": report.coverage,
                    "target": observer.COVERAGE_TARGET,
                    "failures": report.failures,
                    "covered": report.covered,
                    "uncovered_by_skill": dg.MetadataValue.json(report.uncovered_by_skill),
                    "by_project": dg.MetadataValue.json(report.projects[:50]),
                },
            )
        ],
    )


observer_job = dg.define_asset_job("observer_rollup_job", selection=[observer_rollup])
observer_daily = dg.ScheduleDefinition(
    name="observer_daily",
    job=observer_job,
    cron_schedule="15 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,  # the runbooks promise daily rows
    description="Recompute yesterday's and today's observer rows after midnight UTC.",
)


# -- experiments ----------------------------------------------------------------------------
def experiment_key(tenant_id: str, project_id: str, name: str) -> str:
    return f"{tenant_id}.{project_id}.{name}"


def parse_experiment_key(key: str) -> tuple[str, str, str]:
    parts = key.split(".")
    if len(parts) != 3 or not all(SLUG_RE.match(p) for p in parts):
        raise NFError(
            "NF-INPUT-005", f"experiment partition {key!r} is not <tenant>.<project>.<name>"
        )
    return parts[0], parts[1], parts[2]


def _experiment_metadata(exp: dict[str, Any]) -> dict[str, Any]:
    result = exp.get("result") or {}
    decision = result.get("decision") or {}
    return _meta(
        {
            "experiment": exp["name"],
            "kind": exp["kind"],
            "target": exp["skill_id"],
            "control": exp["control_ref"],
            "candidate": exp["candidate_ref"],
            "metric": exp["metric"],
            "status": exp["status"],
            "decision": exp.get("decision"),
            "p_value": exp.get("p_value"),
            "effect_size": exp.get("effect_size"),
            "n_control": decision.get("n_control"),
            "n_candidate": decision.get("n_candidate"),
            "mean_control": decision.get("mean_control"),
            "mean_candidate": decision.get("mean_candidate"),
            "min_samples": exp["min_samples"],
            "reason": decision.get("reason"),
            "variants": dg.MetadataValue.json(result["variants"]) if "variants" in result else None,
            "proposal_id": result.get("proposal_id"),
        }
    )


@dg.asset(
    partitions_def=experiments_partitions,
    group_name=GROUP,
    description="SKILL_17: per-variant metrics and the statistical decision of one A/B "
    "experiment; a 'promote_candidate' decision opens a promotion proposal.",
    check_specs=[
        dg.AssetCheckSpec(
            "experiment_conclusive",
            asset="experiment_decision",
            description="the experiment has enough samples per variant for a decision",
        )
    ],
)
def experiment_decision(
    context: dg.AssetExecutionContext, db: DatabaseResource
) -> dg.MaterializeResult:
    refuse_if_swept(context)
    tenant_id, project_id, name = parse_experiment_key(context.partition_key)
    engine = db.engine()
    exp = exp_api.get_experiment(engine, name, tenant_id=tenant_id, project_id=project_id)
    if exp["status"] in (ExperimentStatus.DRAFT.value, ExperimentStatus.RUNNING.value):
        exp = exp_api.decide_experiment(engine, exp["id"], strict=False)
    metadata = _experiment_metadata(exp)
    conclusive = exp.get("decision") not in (None, "insufficient_data")
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name="experiment_conclusive",
                passed=conclusive,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={k: v for k, v in metadata.items() if k != "variants"},
            )
        ],
    )


experiment_job = dg.define_asset_job("experiment_decisions", selection=[experiment_decision])


def _live_experiments(
    db: DatabaseResource, since: datetime | None = None
) -> list[tuple[str, datetime]]:
    """(partition key, created_at) of draft/running experiments, oldest first."""
    e = Base.metadata.tables["experiments"]
    cond = [e.c.status.in_([ExperimentStatus.DRAFT, ExperimentStatus.RUNNING])]
    if since is not None:
        cond.append(e.c.created_at > since)
    with db.engine().connect() as conn:
        rows = conn.execute(
            select(e.c.tenant_id, e.c.project_id, e.c.name, e.c.created_at)
            .where(*cond)
            .order_by(e.c.created_at)
        ).all()
    return [(experiment_key(r.tenant_id, r.project_id, r.name), r.created_at) for r in rows]


@dg.sensor(
    job=experiment_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,  # a new experiment is evaluated on its own
)
def experiment_partitions(
    context: dg.SensorEvaluationContext, db: DatabaseResource
) -> dg.SensorResult:
    """Experiments created since the cursor become partitions, each evaluated once right away."""
    since = datetime.fromisoformat(context.cursor) if context.cursor else None
    fresh = _live_experiments(db, since)
    known = set(context.instance.get_dynamic_partitions(experiments_partitions.name))
    new = [k for k, _ in fresh if k not in known]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=k, run_key=f"experiment-added:{k}") for k in new],
        dynamic_partitions_requests=[experiments_partitions.build_add_request(new)] if new else [],
        cursor=fresh[-1][1].isoformat() if fresh else context.cursor,
    )


@dg.schedule(
    job=experiment_job,
    cron_schedule="30 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def experiments_daily(context: dg.ScheduleEvaluationContext, db: DatabaseResource):
    """Re-evaluate every running experiment once a day (the sensor adds the partitions)."""
    known = set(context.instance.get_dynamic_partitions(experiments_partitions.name))
    day = context.scheduled_execution_time.date().isoformat()
    for key, _created in _live_experiments(db):
        if key in known:
            yield dg.RunRequest(partition_key=key, run_key=f"{key}:{day}")


# -- index audit ----------------------------------------------------------------------------
class IndexAuditConfig(dg.Config):
    seed_jobs: int = 100_000  # 0: audit the live tables and their statistics instead
    min_rows: int = 5_000


@dg.asset(
    name="index_audit",
    group_name=GROUP,
    description="EXPLAIN of the key queries (by tenant/project, by trace_id, queue claims, "
    "observer rollups) on a synthetic 100k-job copy of the schema, rolled back afterwards.",
    check_specs=[
        dg.AssetCheckSpec(
            "no_seq_scan_on_key_queries",
            asset="index_audit",
            description="no key query falls back to a sequential scan of a big table",
        )
    ],
)
def index_audit_report(
    context: dg.AssetExecutionContext, config: IndexAuditConfig, db: DatabaseResource
) -> dg.MaterializeResult:
    refuse_if_swept(context)
    report = index_audit.audit_indexes(
        db.engine(), seed_jobs=config.seed_jobs, min_rows=config.min_rows
    )
    table = "| query | ok | plan | indexes |\n|---|---|---|---|\n" + "\n".join(
        f"| {q.name} | {'yes' if q.passed else '**no**'} | {' > '.join(q.nodes)} | "
        f"{', '.join(q.indexes)} |"
        for q in report.queries
    )
    return dg.MaterializeResult(
        metadata={
            "queries": len(report.queries),
            "failed": len(report.failures),
            "seeded": report.seeded,
            "row_counts": dg.MetadataValue.json(report.row_counts),
            "plans": dg.MetadataValue.md(table),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_seq_scan_on_key_queries",
                passed=report.passed,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={
                    "failures": dg.MetadataValue.json(report.failures),
                    "min_rows": report.min_rows,
                },
            )
        ],
    )


defs = dg.Definitions(
    assets=[observer_rollup, experiment_decision, index_audit_report],
    jobs=[observer_job, experiment_job],
    schedules=[observer_daily, experiments_daily],
    sensors=[experiment_partitions],
)
