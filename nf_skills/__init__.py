"""SKILL_01..22 as pure functions: typed (pydantic) input, typed output, no Dagster, no I/O
except through the provider interfaces they are given."""
