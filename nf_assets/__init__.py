"""Dagster code location of Novel Factory. `nf_assets.definitions` is the entry point; the skills
themselves are the pure package `nf_skills` (`nf_assets.skills` is only its old import path)."""
