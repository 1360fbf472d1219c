"""The one partitions definition: a novel per partition, keyed `<tenant>.<project>.<novel>`."""

import warnings

import dagster as dg

novels_partitions = dg.DynamicPartitionsDefinition(name="novels")
# Backfill policy of the novel assets: Dagster's default, one run per novel tagged
# `dagster/partition`. Not `BackfillPolicy.multi_run(1)`: its runs target a one-partition range,
# and Dagster 1.13 then records the partitioned checks' results without their partition
# (measured in tests/pipeline/test_launch_paths.py). docs/runbooks/versions-and-backfills.md.

# Dagster 1.13 features marked preview/beta that we rely on, with dagster pinned and tests holding
# them: partitioned checks (the novel checks read only their own novel: test_many_novels.py),
# map_resolved_asset_specs (code versions stamped in one place: test_graph_snapshot.py) and an
# output's data_version (novel_source's is the text's: test_versions.py).
for _preview in ("Specifying a partitions_def on an AssetCheckSpec", "Function `Definitions.map_"):
    warnings.filterwarnings("ignore", message=_preview, category=dg.PreviewWarning)
warnings.filterwarnings("ignore", message="Parameter `data_version`", category=dg.BetaWarning)
