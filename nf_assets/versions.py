"""Versions as Dagster sees them, and the scheduled backfill of stale or failed novels.

- Code: each novel asset's `code_version` is the versions of the skills it runs
  (`ASSET_SKILLS`), so a skill release marks its assets "code version changed" in the UI.
- Data in nf's tables: a project's active skill versions and prompt templates (what a promotion
  changes), observed per novel as the external asset `project_versions` - before every novel run
  (intake sensor, `nf_cli.runs.run_novel`, the scheduled backfill) and every minute
  (`project_versions_sensor`) - and an input (Nothing) of `novel_source`: after a promotion the
  UI shows the promoted project's novels unsynced and no other. Observed *before* a run, because
  a run records its inputs' versions when its step starts. Not a `deps=` edge: Dagster 1.13 reads
  a non-input dependency's version from the latest event in *any* partition (measured: novel b's
  run recorded novel a's observation, and a multi-asset output recorded a's `personas`).
  `stale_among` decides per partition what to re-run: an asset is stale when a skill or template
  it runs became active after the partition's latest materialization of it.
- `stale_novels_schedule` (every 30 minutes) re-materializes, per novel partition, only the
  stale assets (code version changed, a skill or template it runs was promoted, or missing,
  plus everything downstream of those), and re-runs novels whose latest run failed: at most
  `MAX_RUNS_PER_TICK` runs a tick, `MAX_RUNS_PER_TENANT` per tenant, in partition-key order;
  the queue's per-tenant limit applies on top (every run carries nf/tenant). A schedule rather than
  an automation condition: explicit about batches and tenants, no asset daemon, and its
  decisions are a plain function a test can call.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from types import ModuleType

import dagster as dg
from dagster._core.definitions.data_version import extract_data_version_from_entry
from dagster._core.events import (
    AssetObservationData,
    DagsterEvent,
    DagsterEventBatchMetadata,
    generate_event_batch_id,
)
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID
from sqlalchemy import Engine, select

from nf_assets.partitions import novels_partitions
from nf_assets.rendering import COMPOSER_VERSION, EXECUTOR_SKILL, EXECUTOR_VERSION, EXPORT_VERSION
from nf_assets.run_coordinator import partition_of
from nf_services.database import DatabaseResource
from nf_services.governance.active_versions import Active, active_versions, fingerprint
from nf_skills import (
    s01_ingest,
    s02_chapter_split,
    s03_chunk,
    s04_summarize,
    s05_characters,
    s06_relations,
    s07_scenes,
    s08_dialogue,
    s09_render_plan,
    s10_script_adapt,
    s11_voice_cast,
    s12_settings,
    s13_storyboard,
    s14_persona,
    s15_style_bible,
    s16_content_gate,
    s18_media_gate,
    s19_continuity,
    s20_prompt_compile,
    s21_subtitle,
)
from shared.models import Base

T = Base.metadata.tables
PROJECT_VERSIONS = dg.AssetKey("project_versions")
MAX_RUNS_PER_TICK = 20
MAX_RUNS_PER_TENANT = 2  # per tick; the run queue's per-tenant limit (dagster.yaml) is 2 too
NOVEL_JOB = "novel_pipeline"


def _v(*skills: ModuleType) -> tuple[tuple[str, str], ...]:
    return tuple((s.SKILL_ID, s.VERSION) for s in skills)


# What each novel asset runs; its code_version is their versions joined.
ASSET_SKILLS: dict[str, tuple[tuple[str, str], ...]] = {
    "novel_source": _v(s01_ingest),
    "chapters": _v(s02_chapter_split),
    "characters": _v(s05_characters),
    "relations": _v(s06_relations),
    "understanding": _v(s04_summarize, s07_scenes, s08_dialogue, s12_settings),
    "personas": _v(s14_persona),
    "voice_cast": _v(s11_voice_cast),
    "scripts": _v(s10_script_adapt, s16_content_gate),  # the degradation loop runs SKILL_16
    "storyboards": _v(s13_storyboard),
    "style_bible": _v(s15_style_bible),
    "continuity": _v(s19_continuity),
    "render_plans": _v(s09_render_plan),
    "compiled_prompts": _v(s20_prompt_compile),
    "panels_and_narration": ((EXECUTOR_SKILL, EXECUTOR_VERSION), *_v(s18_media_gate)),
    "subtitles": _v(s21_subtitle),
    "chapter_videos": (("EXEC_COMPOSE", COMPOSER_VERSION),),
    "export_record": (("EXPORT", EXPORT_VERSION),),
    "rag_chunks": _v(s03_chunk),
}


def code_version_of(asset: str) -> str | None:
    """`SKILL_10@1.1.0+SKILL_16@1.0.0` for the skills an asset runs; None if unmapped."""
    return "+".join(f"{skill}@{version}" for skill, version in ASSET_SKILLS.get(asset, ())) or None


project_versions = dg.AssetSpec(
    PROJECT_VERSIONS,
    partitions_def=novels_partitions,
    group_name="versions",
    description="The project's active skill versions and prompt templates (nf's tables), "
    "observed per novel; its data version changes when a promotion does. Never materialized.",
)


# -- observing ----------------------------------------------------------------------------------
def _novels(engine: Engine, keys: Iterable[str]) -> list[tuple[str, str, str]]:
    """(partition_key, tenant, project) of the registered novels among `keys`."""
    novels = T["novels"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(novels.c.partition_key, novels.c.tenant_id, novels.c.project_id).where(
                novels.c.partition_key.in_(list(keys))
            )
        ).all()
    return [tuple(r) for r in rows]


def observed_version(instance: dg.DagsterInstance, partition_key: str) -> str | None:
    record = instance.get_latest_data_version_record(
        PROJECT_VERSIONS, is_source=True, partition_key=partition_key
    )
    version = extract_data_version_from_entry(record.event_log_entry) if record else None
    return version.value if version else None


def observed_versions(instance: dg.DagsterInstance, partition_keys: list[str]) -> dict[str, str]:
    """`observed_version` of many partitions in two queries (the intake observes a whole tick's
    novels: one query per novel was a second per 1,000 requests)."""
    if not partition_keys:
        return {}
    latest = instance.event_log_storage.get_latest_storage_id_by_partition(
        PROJECT_VERSIONS, dg.DagsterEventType.ASSET_OBSERVATION, partitions=set(partition_keys)
    )
    if not latest:
        return {}
    records = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=PROJECT_VERSIONS, storage_ids=list(latest.values())),
        limit=len(latest),
    ).records
    out = {}
    for record in records:
        version = extract_data_version_from_entry(record.event_log_entry)
        if version and record.partition_key:
            out[record.partition_key] = version.value
    return out


def report_observations(instance: dg.DagsterInstance, events: list[dg.AssetObservation]) -> None:
    """Runless observations as one batch: what `report_runless_asset_event` writes for each,
    handed to Dagster's batched event write (one insert on nf_assets.pg_storage's instance,
    one by one where batching is off)."""
    batch = generate_event_batch_id()
    for i, event in enumerate(events):
        instance.report_dagster_event(
            DagsterEvent(
                event_type_value=dg.DagsterEventType.ASSET_OBSERVATION.value,
                event_specific_data=AssetObservationData(event),
                job_name=RUNLESS_JOB_NAME,
            ),
            run_id=RUNLESS_RUN_ID,
            batch_metadata=DagsterEventBatchMetadata(batch, i == len(events) - 1),
        )


def version_observations(
    engine: Engine, instance: dg.DagsterInstance, partition_keys: list[str]
) -> list[dg.AssetObservation]:
    """Observations for the novels whose project's versions differ from the last observed."""
    novels = _novels(engine, partition_keys)
    versions = active_versions(engine, sorted({(t, p) for _, t, p in novels}))
    observed = observed_versions(instance, [key for key, _, _ in novels])
    out = []
    for key, tenant, project in novels:
        current = versions[(tenant, project)]
        value = fingerprint(current)
        if observed.get(key) != value:
            out.append(
                dg.AssetObservation(
                    asset_key=PROJECT_VERSIONS,
                    partition=key,
                    tags={"dagster/data_version": value},
                    metadata={
                        "active": dg.MetadataValue.json(
                            {k: v.version for k, v in current.items()} or {"all": "defaults"}
                        )
                    },
                )
            )
    return out


def observe_versions(
    engine: Engine, instance: dg.DagsterInstance, partition_keys: list[str]
) -> int:
    """Report the observations `version_observations` finds; returns how many."""
    events = version_observations(engine, instance, partition_keys)
    report_observations(instance, events)
    return len(events)


@dg.sensor(
    name="project_versions_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Observes each novel's project_versions (active skill versions and prompt "
    "templates): after a promotion the project's novels show as unsynced.",
)
def project_versions_sensor(context: dg.SensorEvaluationContext, db: DatabaseResource):
    keys = context.instance.get_dynamic_partitions(novels_partitions.name)
    events = version_observations(db.engine(), context.instance, keys)
    if not events:
        return dg.SkipReason("no project's versions changed")
    return dg.SensorResult(asset_events=events)


# -- the scheduled backfill ---------------------------------------------------------------------
Latest = dict[dg.AssetKey, tuple[float, str | None]]  # asset -> (timestamp, code version)


def latest_materializations(
    instance: dg.DagsterInstance, keys: list[dg.AssetKey], partitions: list[str]
) -> dict[str, Latest]:
    """Per partition, each asset's latest materialization: two queries per asset, whatever the
    number of novels."""
    out: dict[str, Latest] = {p: {} for p in partitions}
    for key in keys:
        ids = instance.event_log_storage.get_latest_storage_id_by_partition(
            key, dg.DagsterEventType.ASSET_MATERIALIZATION, partitions=set(partitions)
        )
        if not ids:
            continue
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, storage_ids=list(ids.values())), limit=len(ids)
        ).records
        for r in records:
            code = r.asset_materialization.tags.get("dagster/code_version")
            out[r.partition_key][key] = (r.timestamp, code)
    return out


def stale_among(
    asset_graph, keys: list[dg.AssetKey], latest: Latest, active: dict[str, Active]
) -> list[dg.AssetKey]:
    """The assets among `keys` to re-materialize for one novel partition, given its `latest`
    materializations and the project's `active` versions: never materialized, materialized with
    another code version, or running a skill or template promoted after it was materialized -
    and everything downstream of those, within `keys`."""
    promoted: dict[str, float] = {}  # skill id -> when its newest active version/template began
    for name, act in active.items():
        skill = name.split("/")[0]
        promoted[skill] = max(promoted.get(skill, 0.0), act.since.timestamp())
    changed: set[dg.AssetKey] = set()
    for key in keys:
        if key not in latest:
            changed.add(key)
            continue
        when, recorded = latest[key]
        skills = {skill for skill, _ in ASSET_SKILLS.get(key.to_user_string(), ())}
        code = asset_graph.get(key).code_version  # None: unversioned (Dagster uses the run id)
        if (code and recorded != code) or any(promoted.get(s, 0.0) > when for s in skills):
            changed.add(key)
    stale, todo = set(), list(changed)
    # a promotion also re-syncs novel_source (its input project_versions moved; the UI shows it
    # unsynced); its data version is the text's, so nothing downstream follows from that alone
    source = dg.AssetKey("novel_source")
    if source in latest and any(t > latest[source][0] for t in promoted.values()):
        stale.add(source)
    while todo:  # downstream closure within the job
        key = todo.pop()
        if key in stale or key not in keys:
            continue
        stale.add(key)
        todo += list(asset_graph.get(key).child_keys)
    return sorted(stale)


def stale_assets(
    instance: dg.DagsterInstance,
    asset_graph,
    partition_key: str,
    keys: list[dg.AssetKey],
    active: dict[str, Active],
) -> list[dg.AssetKey]:
    """`stale_among` for one partition, read from the instance."""
    latest = latest_materializations(instance, keys, [partition_key])[partition_key]
    return stale_among(asset_graph, keys, latest, active)


def _failed_partitions(instance: dg.DagsterInstance) -> set[str]:
    """Novel partitions whose latest novel_pipeline run failed (one query for all)."""
    latest = instance.run_storage.get_run_partition_data(dg.RunsFilter(job_name=NOVEL_JOB))
    return {r.partition for r in latest if r.status == dg.DagsterRunStatus.FAILURE}


def _busy(instance: dg.DagsterInstance) -> set[str]:
    """Partitions with a novel run queued or in progress: not requested again."""
    runs = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.QUEUED,
                dg.DagsterRunStatus.NOT_STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.STARTED,
            ]
        )
    )
    return {partition_of(r.tags) for r in runs} - {None}


def backfill_requests(
    engine: Engine, instance: dg.DagsterInstance, repo: dg.RepositoryDefinition, tick: str
) -> list[dg.RunRequest]:
    """One tick of the scheduled backfill: a run per novel partition with stale assets (only
    those) or a failed latest run (the whole novel; the skill cache makes finished work free),
    capped per tick and per tenant."""
    keys = instance.get_dynamic_partitions(novels_partitions.name)
    observe_versions(engine, instance, keys)  # a promotion since the sensor's last tick
    novels = sorted(_novels(engine, keys))
    versions = active_versions(engine, sorted({(t, p) for _, t, p in novels}))
    asset_graph = repo.asset_graph
    job_keys = sorted(repo.get_job(NOVEL_JOB).asset_layer.selected_asset_keys)
    busy, failing = _busy(instance), _failed_partitions(instance)
    per_tenant, requests = Counter(), []
    todo = [n for n in novels if n[0] not in busy]
    latest = latest_materializations(instance, job_keys, [key for key, _, _ in todo])
    for key, tenant, project in todo:
        if len(requests) >= MAX_RUNS_PER_TICK:
            break
        if per_tenant[tenant] >= MAX_RUNS_PER_TENANT:
            continue
        failed = key in failing
        active = versions[(tenant, project)]
        stale = None if failed else stale_among(asset_graph, job_keys, latest[key], active)
        if not failed and not stale:
            continue
        per_tenant[tenant] += 1
        requests.append(
            dg.RunRequest(
                partition_key=key,
                asset_selection=stale,  # None: the whole novel
                run_key=f"backfill:{key}:{tick}",
                tags={"nf/backfill_reason": "failed" if failed else "stale"},
            )
        )
    return requests


@dg.schedule(
    name="stale_novels_schedule",
    job_name=NOVEL_JOB,
    cron_schedule="*/30 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-materializes stale assets of novel partitions (a skill or prompt promotion, "
    "a new skill release) and re-runs failed novels, a few per tenant per tick.",
)
def stale_novels_schedule(context: dg.ScheduleEvaluationContext, db: DatabaseResource):
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    requests = backfill_requests(db.engine(), context.instance, context.repository_def, tick)
    return requests or dg.SkipReason("no stale or failed novels")


defs = dg.Definitions(
    assets=[project_versions], sensors=[project_versions_sensor], schedules=[stale_novels_schedule]
)
