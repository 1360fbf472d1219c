"""The one partitions definition: a novel per partition, keyed `<tenant>.<project>.<novel>`."""

import dagster as dg

novels_partitions = dg.DynamicPartitionsDefinition(name="novels")
