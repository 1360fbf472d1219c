"""Dagster code location of Novel Factory. `nf_assets.definitions` is the entry point; the
subpackage `skills` holds SKILL_01..22 as pure functions and imports no Dagster."""
