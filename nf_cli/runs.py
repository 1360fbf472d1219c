"""Register a novel and run the whole graph for it in-process: the main job, the benchmark and
the end-to-end tests all go through here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from sqlalchemy import Engine, select, update

from nf_assets.definitions import defs
from nf_assets.lifecycle import (
    failure_of,
    local_process_tags,
    reap_dead_local_runs,
    reconcile,
    settle_ended,
)
from nf_assets.partitions import novels_partitions
from nf_assets.runtime import run_tags
from nf_assets.versions import observe_versions
from nf_services.admission import Admission, admit
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.novels import ensure_tenant_project, register_novel
from shared.errors import REGISTRY
from shared.models import Base
from shared.slugs import PartitionKey
from shared.telemetry import new_trace_id


@dataclass
class NovelRun:
    result: dg.ExecuteInProcessResult | dg.ExecutionResult
    partition_key: str
    trace_id: str
    instance: dg.DagsterInstance
    store_root: Path | None  # None: the configured store (NF_ARTIFACT_BACKEND)


def run_novel(
    engine: Engine,
    store_root: Path | None,
    *,
    tenant: str,
    project: str,
    slug: str,
    data: bytes,
    instance: dg.DagsterInstance,
    title: str | None = None,
    trace_id: str | None = None,
    project_config: dict | None = None,
    run_config: dict | None = None,
    admission: Admission | None = None,
) -> NovelRun:
    """Admit the bytes (nf_services.admission; a refusal raises before anything is written), then
    tenant/project, the novels row, the Dagster partition and the in-process run. `store_root`
    None: the configured artifact store."""
    store = ArtifactStoreResource(root=str(store_root) if store_root else "")
    partition_key, trace_id = prepare_novel(
        engine,
        store,
        tenant=tenant,
        project=project,
        slug=slug,
        data=data,
        instance=instance,
        title=title,
        trace_id=trace_id,
        project_config=project_config,
        admission=admission,
    )
    result = defs.resolve_job_def("novel_pipeline").execute_in_process(
        partition_key=partition_key,
        instance=instance,
        tags={
            **run_tags(PartitionKey.parse(partition_key), trace_id),
            **local_process_tags(),
        },
        raise_on_error=False,
        run_config=run_config,
        resources={
            "db": DatabaseResource(url=engine.url.render_as_string(hide_password=False)),
            "store": store,
        },
    )
    settle_ended(engine, instance, result.dagster_run)
    return NovelRun(result, partition_key, trace_id, instance, store_root)


def run_novel_distributed(
    engine: Engine,
    *,
    tenant: str,
    project: str,
    slug: str,
    data: bytes,
    instance: dg.DagsterInstance,
    title: str | None = None,
    run_config: dict | None = None,
) -> NovelRun:
    """The same novel through novel_pipeline_celery: this process orchestrates, every step runs
    on a dagster-celery worker, artifacts and step outputs go to the configured backend (the
    workers' settings must name the same database, bucket and broker)."""
    from nf_assets.distributed import CELERY_JOB, celery_run_config, reconstructable_job

    partition_key, trace_id = prepare_novel(
        engine,
        ArtifactStoreResource(),
        tenant=tenant,
        project=project,
        slug=slug,
        data=data,
        instance=instance,
        title=title,
    )
    result = dg.execute_job(
        reconstructable_job(CELERY_JOB),
        instance=instance,
        run_config={**celery_run_config(), **(run_config or {})},
        tags={
            **run_tags(PartitionKey.parse(partition_key), trace_id),
            "dagster/partition": partition_key,
        },
    )
    settle_ended(engine, instance, result.dagster_run)
    return NovelRun(result, partition_key, trace_id, instance, None)


def prepare_novel(
    engine: Engine,
    store: ArtifactStoreResource,
    *,
    tenant: str,
    project: str,
    slug: str,
    data: bytes,
    instance: dg.DagsterInstance,
    title: str | None = None,
    trace_id: str | None = None,
    project_config: dict | None = None,
    admission: Admission | None = None,
) -> tuple[str, str]:
    """Everything before a novel run: admission, tenant/project, the novels row, the partition,
    the versions observation. Returns (partition key, trace id)."""
    admission = admission or admit(data)
    ensure_tenant_project(engine, tenant, project)
    if project_config is not None:
        projects = Base.metadata.tables["projects"]
        with engine.begin() as conn:
            conn.execute(
                update(projects)
                .where(projects.c.tenant_id == tenant, projects.c.id == project)
                .values(config=project_config)
            )
    trace_id = trace_id or new_trace_id()
    novel = register_novel(
        engine,
        store.store(),
        tenant_id=tenant,
        project_id=project,
        slug=slug,
        data=data,
        title=title or slug,
        trace_id=trace_id,
        admission=admission,
    )
    instance.add_dynamic_partitions(novels_partitions.name, [novel.partition_key])
    # runs of this host killed earlier end now, in Dagster and in nf, before this one starts
    reap_dead_local_runs(instance)
    reconcile(engine, instance)
    observe_versions(engine, instance, [novel.partition_key])
    return novel.partition_key, trace_id


def run_failure(engine: Engine, instance: dg.DagsterInstance, run_id: str) -> tuple[str, str]:
    """(error code, message) of a failed run: what nf recorded on its render_runs row (settled
    from Dagster's failure when the run ended), else read from Dagster's failure events."""
    runs = Base.metadata.tables["render_runs"]
    with engine.connect() as conn:
        row = conn.execute(
            select(runs.c.error_code, runs.c.error_message).where(runs.c.dagster_run_id == run_id)
        ).first()
    if row is not None and row.error_code:
        return row.error_code, row.error_message or REGISTRY[row.error_code].message
    error = failure_of(instance, run_id)
    return error.code, error.detail
