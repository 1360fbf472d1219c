"""Governance: the proposal flow and promotion gate, SKILL_17 experiments, the observer rollups
and the index audit (docs/runbooks/p1-ops-governance-plan.md)."""
