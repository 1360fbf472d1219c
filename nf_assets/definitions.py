"""The code location: one Definitions per domain, merged here with the shared resources."""

import dagster as dg

from nf_assets import (
    adaptation,
    governance,
    ingest,
    intake,
    lifecycle,
    planning,
    rag,
    rendering,
    understanding,
    versions,
)
from nf_assets.distributed import CELERY_JOB, celery_executor_def, celery_run_config
from nf_assets.partitions import novels_partitions
from nf_assets.run_coordinator import tenant_tags
from nf_assets.runtime import TRANSIENT_RETRY
from nf_assets.versions import code_version_of
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.step_outputs import StepOutputIOManager

NOVEL_SELECTION = (
    dg.AssetSelection.all()
    - dg.AssetSelection.groups(governance.GROUP)
    - dg.AssetSelection.assets(versions.PROJECT_VERSIONS)
)

# A run carries a whole novel; ops fan chapters out to a process pool themselves, so the
# in-process executor saves a Python start-up per step without losing parallelism.
novel_job = dg.define_asset_job(
    "novel_pipeline",
    selection=NOVEL_SELECTION,
    executor_def=dg.in_process_executor,
    op_retry_policy=TRANSIENT_RETRY,
    config=dg.PartitionedConfig(
        partitions_def=novels_partitions,
        run_config_for_partition_key_fn=lambda _key: {},
        tags_for_partition_key_fn=tenant_tags,  # also set by NovelRunCoordinator
    ),
    description="A novel end to end: ingest -> ... -> chapter videos -> export record.",
)

# The same novel on other machines: each step a Celery task run by a dagster-celery worker
# (nf_assets/distributed.py); needs NF_ARTIFACT_BACKEND=s3 when the workers are on other hosts.
novel_celery_job = dg.define_asset_job(
    CELERY_JOB,
    selection=NOVEL_SELECTION,
    executor_def=celery_executor_def(),
    op_retry_policy=TRANSIENT_RETRY,
    config=dg.PartitionedConfig(
        partitions_def=novels_partitions,
        run_config_for_partition_key_fn=lambda _key: celery_run_config(),
        tags_for_partition_key_fn=tenant_tags,
    ),
    description="novel_pipeline with every step on Celery workers (broker, queue: NF_CELERY_*).",
)

# io_manager: step outputs under DAGSTER_HOME/storage (local) or in the bucket (s3), chosen by
# NF_ARTIFACT_BACKEND when a run starts (nf_services/step_outputs.py).
RESOURCES = {
    "db": DatabaseResource(),
    "store": ArtifactStoreResource(),
    "io_manager": StepOutputIOManager(),
}


# The catalog's facets: what each group's assets are made with (at most three kinds an asset).
KINDS = {
    "ingest": {"python", "postgres"},
    "understanding": {"python", "pandas"},
    "adaptation": {"python", "pydantic"},
    "planning": {"python", "pydantic"},
    "rendering": {"ffmpeg", "pillow", "espeak"},
    "export": {"json", "postgres"},
    "rag": {"numpy", "postgres"},
    "governance": {"pandas", "postgres"},
}
OWNERS = ["team:novel-factory"]


def _stamp(spec: dg.AssetSpec) -> dg.AssetSpec:
    """One place for what every asset spec carries: the code version of the skills it runs,
    kinds and owners."""
    return spec.replace_attributes(
        code_version=code_version_of(spec.key.to_user_string()),
        kinds=KINDS.get(spec.group_name or "", set()),
        owners=OWNERS,
    )


defs = dg.Definitions.merge(
    dg.Definitions.merge(
        ingest.defs,
        understanding.defs,
        adaptation.defs,
        planning.defs,
        rendering.defs,
        rag.defs,
        governance.defs,
    ).map_resolved_asset_specs(func=_stamp),
    versions.defs,
    intake.defs,
    lifecycle.defs,
    dg.Definitions(
        jobs=[novel_job, novel_celery_job], resources=RESOURCES, executor=dg.in_process_executor
    ),
)
