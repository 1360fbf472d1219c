"""The run queue, tenant-aware whatever launched the run.

The per-tenant limit in dagster.yaml (`tag_concurrency_limits` on `nf/tenant`) only binds runs
that carry the tag. Runs from the job page, job backfills and the intake sensor are tagged by
the job's partitioned config, but runs from an asset page, an asset backfill or "Materialize
all" use Dagster's implicit asset job and carry only `dagster/partition`. Every run submitted
to the instance passes through here, so the tags are added from the partition key before the
run is queued, on every launch path.
"""

from __future__ import annotations

from dagster import DagsterRun
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext

from shared.errors import NFError
from shared.slugs import PartitionKey

# defined here, not in nf_assets.runtime: the daemon and the webserver load this module alone
TAG_TENANT = "nf/tenant"
TAG_PROJECT = "nf/project"


def tenant_tags(partition_key: str | None) -> dict[str, str]:
    """nf/tenant and nf/project of a `<tenant>.<project>.<name>` key (novels, experiments)."""
    if not partition_key:
        return {}
    try:
        key = PartitionKey.parse(partition_key)
    except NFError:
        return {}  # not a tenant-scoped key
    return {TAG_TENANT: key.tenant_id, TAG_PROJECT: key.project_id}


def partition_of(tags: dict[str, str]) -> str | None:
    """A run's single partition: `dagster/partition`, or a range of one partition (what an
    asset backfill under a multi-run backfill policy creates)."""
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start = tags.get("dagster/asset_partition_range_start")
    return start if start and start == tags.get("dagster/asset_partition_range_end") else None


class NovelRunCoordinator(QueuedRunCoordinator):
    """QueuedRunCoordinator that tags a novel partition's run with its tenant and project."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        missing = {
            k: v for k, v in tenant_tags(partition_of(run.tags)).items() if k not in run.tags
        }
        if missing:
            self._instance.add_run_tags(run.run_id, missing)
            run = self._instance.get_run_by_id(run.run_id) or run
            context = SubmitRunContext(run, context.workspace)
        return super().submit_run(context)
