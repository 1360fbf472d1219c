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
    result: dg.ExecuteInProcessResult
    partition_key: str
    trace_id: str
    instance: dg.DagsterInstance
    store_root: Path


def run_novel(
    engine: Engine,
    store_root: Path,
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
    tenant/project, the novels row, the Dagster partition and the in-process run."""
    from shared.storage import LocalArtifactStore

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
        LocalArtifactStore(store_root),
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
    result = defs.resolve_job_def("novel_pipeline").execute_in_process(
        partition_key=novel.partition_key,
        instance=instance,
        tags={
            **run_tags(PartitionKey.parse(novel.partition_key), trace_id),
            **local_process_tags(),
        },
        raise_on_error=False,
        run_config=run_config,
        resources={
            "db": DatabaseResource(url=engine.url.render_as_string(hide_password=False)),
            "store": ArtifactStoreResource(root=str(store_root)),
        },
    )
    settle_ended(engine, instance, result.dagster_run)
    return NovelRun(result, novel.partition_key, trace_id, instance, Path(store_root))


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
