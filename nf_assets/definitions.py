"""The code location: one Definitions per domain, merged here with the shared resources."""

from __future__ import annotations

import dagster as dg

from nf_assets import adaptation, ingest, intake, planning, rendering, understanding
from nf_assets.partitions import novels_partitions
from nf_resources.database import ArtifactStoreResource, DatabaseResource

# A run carries a whole novel; ops fan chapters out to a process pool themselves, so the
# in-process executor saves a Python start-up per step without losing parallelism.
novel_job = dg.define_asset_job(
    "novel_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=novels_partitions,
    executor_def=dg.in_process_executor,
    description="A novel end to end: ingest -> ... -> chapter videos -> export record.",
)

RESOURCES = {"db": DatabaseResource(), "store": ArtifactStoreResource()}

defs = dg.Definitions.merge(
    ingest.defs,
    understanding.defs,
    adaptation.defs,
    planning.defs,
    rendering.defs,
    intake.defs,
    dg.Definitions(jobs=[novel_job], resources=RESOURCES, executor=dg.in_process_executor),
)
