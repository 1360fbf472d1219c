"""SKILL_17 in the graph: with an experiment on SKILL_10 running, each chapter is adapted by the
version its deterministic assignment names, and its job records that version."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from sqlalchemy import insert, select

from nf_cli.runs import run_novel
from nf_services.governance.experiments import create_experiment, unit_id
from nf_services.novels import ensure_tenant_project
from shared.models import Base
from tests.pipeline.conftest import small_novel

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables


def test_both_arms_materialize_chapter_by_chapter(migrated_db_url, engine, tmp_path):
    tenant, project = f"t{uuid.uuid4().hex[:8]}", "books"
    ensure_tenant_project(engine, tenant, project)
    with engine.begin() as conn:
        conn.execute(
            insert(T["skill_versions"]),
            [
                {
                    "tenant_id": tenant,
                    "project_id": project,
                    "skill_id": "SKILL_10",
                    "version": v,
                    "config": cfg,
                }
                for v, cfg in (("1.1.0", {}), ("1.1.0-short", {"target_seconds": 60}))
            ],
        )
    exp = create_experiment(
        engine,
        tenant_id=tenant,
        project_id=project,
        name="shorter",
        target="SKILL_10",
        control_ref="1.1.0",
        candidate_ref="1.1.0-short",
        min_samples=2,
    )
    run = run_novel(
        engine,
        tmp_path,
        tenant=tenant,
        project=project,
        slug="aq",
        data=small_novel(2),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert run.result.success
    va, jobs = T["variant_assignments"], T["jobs"]
    with engine.connect() as conn:
        assigned = dict(
            conn.execute(
                select(va.c.unit_id, va.c.variant).where(va.c.experiment_id == exp["id"])
            ).all()
        )
        used = dict(
            conn.execute(
                select(jobs.c.chapter_index, jobs.c.skill_version).where(
                    jobs.c.tenant_id == tenant, jobs.c.skill_id == "SKILL_10"
                )
            ).all()
        )
    refs = {"control": "1.1.0", "candidate": "1.1.0-short"}
    assert used == {i: refs[assigned[unit_id(run.partition_key, i)]] for i in (1, 2)}
    [mat] = [
        e.materialization
        for e in run.result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("scripts")
    ]
    assert sum(mat.metadata["experiment_arms"].value.values()) == 2
