"""The novel job on Celery workers (dagster-celery): every step of a novel run is a Celery task on
NF_CELERY_QUEUE, run by `dagster-celery worker` processes on any machine that reaches the broker,
nf's database, Dagster's storage and the artifact bucket (NF_ARTIFACT_BACKEND=s3: step outputs
pickled there too, nf_services/step_outputs.py). Chapter media work inside a step goes to the
worker's own process pool, or with NF_MEDIA_EXECUTOR=celery to every media worker
(nf_assets/media_celery.py). Deployment: deploy/celery/, docs/runbooks/distributed-execution.md.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from shared.config import Settings, get_settings
from shared.errors import NFError

CELERY_JOB = "novel_pipeline_celery"


def _missing_extra() -> dg.ExecutorDefinition:
    @dg.executor(name="celery", config_schema=dg.Permissive())
    def celery_unavailable(_init_context):
        raise NFError(
            "NF-ORCH-005",
            f"{CELERY_JOB} needs dagster-celery: pip install -e '.[distributed]'",
        )

    return celery_unavailable


def celery_executor_def() -> dg.ExecutorDefinition:
    """dagster-celery's executor; without the extra, one that refuses to start with NF-ORCH-005
    (the code location still loads, the local job still runs)."""
    try:
        from dagster_celery import celery_executor
    except ImportError:
        return _missing_extra()
    return celery_executor


def celery_execution_config(settings: Settings | None = None) -> dict[str, Any]:
    """The executor block of a celery run: broker, result backend and the steps' queue, from the
    settings (the same block `dagster-celery worker start -y` reads: deploy/celery/worker.yaml)."""
    s = settings or get_settings()
    return {
        "broker": s.celery_broker_url,
        "backend": s.celery_backend_url,
        "include": ["nf_assets.definitions"],
        "config_source": {"task_default_queue": s.celery_queue},
    }


def celery_run_config(settings: Settings | None = None) -> dict[str, Any]:
    return {"execution": {"config": celery_execution_config(settings)}}


def reconstructable_job(name: str = CELERY_JOB) -> Any:
    """A pointer workers can rebuild the job from: the code location's `defs`."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    return ReconstructableRepository.for_module(
        "nf_assets.definitions", "defs"
    ).get_reconstructable_job(name)
