"""Versions as Dagster sees them, on a PostgreSQL-backed instance with novels of two tenants: a
promotion in one project makes only that project's novels stale, a skill release makes its assets
and what is downstream stale, the scheduled backfill asks for exactly those (and for failed
novels), and once its run is done the novel is fresh again."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest
from sqlalchemy import insert

from nf_assets.definitions import defs
from nf_assets.versions import backfill_requests, code_version_of, stale_assets
from nf_cli.demo import QUIET, first_chapters
from nf_cli.runs import run_novel
from shared.models import Base
from tests.conftest import CORPUS

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables


def ui_status(instance: dg.DagsterInstance, graph, partition_key: str) -> StaleStatus:
    """novel_source's sync status as the Dagster UI computes it."""
    resolver = CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))
    key = dg.AssetKey("novel_source")
    return resolver.get_status(key, partition_key)


def test_promotion_and_release_make_novels_stale_and_the_backfill_refreshes_them(
    engine, migrated_db_url, pg_dagster_instance, tmp_path
):
    instance = pg_dagster_instance
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    job = sorted(repo.get_job("novel_pipeline").asset_layer.selected_asset_keys)
    a, b = f"va{uuid.uuid4().hex[:6]}", f"vb{uuid.uuid4().hex[:6]}"
    keys = {}
    for tenant in (a, b):
        run = run_novel(
            engine,
            tmp_path,
            tenant=tenant,
            project="books",
            slug="aq",
            data=first_chapters((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes(), 1),
            instance=instance,
            run_config=QUIET,
        )
        assert run.result.success
        keys[tenant] = run.partition_key
    # the runs were in sync with their project's versions: nothing is stale, nothing to backfill
    assert ui_status(instance, graph, keys[a]) == ui_status(instance, graph, keys[b])
    assert ui_status(instance, graph, keys[a]) == StaleStatus.FRESH
    assert not stale_assets(instance, graph, keys[a], job, {})
    assert not backfill_requests(engine, instance, repo, "t0")

    # a skill release: SKILL_13's code version moves; storyboards and what follows are stale
    def release(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.key.to_user_string() != "storyboards":
            return spec
        return spec.replace_attributes(code_version=code_version_of("storyboards") + ".next")

    released = defs.map_resolved_asset_specs(func=release).resolve_asset_graph()
    stale = {k.to_user_string() for k in stale_assets(instance, released, keys[b], job, {})}
    assert {"storyboards", "render_plans", "compiled_prompts", "chapter_videos"} <= stale
    assert not {"novel_source", "chapters", "scripts", "personas"} & stale

    # a promotion of SKILL_10 in tenant a's project: only a's novel becomes stale
    with engine.begin() as conn:
        conn.execute(
            insert(T["skill_versions"]).values(
                id=uuid.uuid4(),
                tenant_id=a,
                project_id="books",
                trace_id=uuid.uuid4().hex,
                skill_id="SKILL_10",
                version="1.9.0",
                status="active",
                config={"mode": "condensed"},
            )
        )
    [request] = backfill_requests(engine, instance, repo, "t1")  # observes, then selects
    # what the UI shows: the promoted project's novel unsynced, the other one not
    assert ui_status(instance, graph, keys[a]) == StaleStatus.STALE
    assert ui_status(instance, graph, keys[b]) == StaleStatus.FRESH
    assert request.partition_key == keys[a]
    assert request.tags["nf/backfill_reason"] == "stale"
    selected = {k.to_user_string() for k in request.asset_selection}
    assert {"scripts", "storyboards", "chapter_videos", "export_record"} <= selected
    assert not {"chapters", "understanding", "personas"} & selected  # novel_source: re-synced
    assert not stale_assets(instance, graph, keys[b], job, {})

    # the backfill's run: afterwards a's novel is fresh, and only stale work was redone
    result = defs.resolve_job_def("novel_pipeline").execute_in_process(
        partition_key=request.partition_key,
        asset_selection=request.asset_selection,
        instance=instance,
        tags=request.tags,
        run_config={
            **QUIET,
            "resources": {
                "db": {"config": {"url": migrated_db_url}},
                "store": {"config": {"root": str(tmp_path)}},
            },
        },
    )
    assert result.success
    media = result.asset_materializations_for_node("panels_and_narration")
    assert media[0].metadata["chapters_computed"].value == 0  # the skill cache served it
    assert not stale_assets(instance, graph, keys[a], job, {})
    assert not backfill_requests(engine, instance, repo, "t2")
    assert ui_status(instance, graph, keys[a]) == StaleStatus.FRESH

    # a novel whose latest run failed is run again, whole
    instance.add_run(
        dg.DagsterRun(
            job_name="novel_pipeline",
            run_id=str(uuid.uuid4()),
            status=dg.DagsterRunStatus.FAILURE,
            tags={"dagster/partition": keys[b]},
        )
    )
    [retry] = backfill_requests(engine, instance, repo, "t3")
    assert (retry.partition_key, retry.asset_selection) == (keys[b], None)
    assert retry.tags["nf/backfill_reason"] == "failed"
