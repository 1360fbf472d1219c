"""The one partitions definition: a novel per partition, keyed `<tenant>.<project>.<novel>`."""

import warnings

import dagster as dg

novels_partitions = dg.DynamicPartitionsDefinition(name="novels")

# The novel checks (SKILL_16/18, RAG regression) are partitioned like their assets, so a run reads
# only its own novel's data. Dagster 1.13 calls partitioned checks "preview"; dagster is pinned and
# tests/pipeline/test_many_novels.py holds the behaviour we rely on.
warnings.filterwarnings(
    "ignore", message="Specifying a partitions_def on an AssetCheckSpec", category=dg.PreviewWarning
)
