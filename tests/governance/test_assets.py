"""The governance assets in Dagster: checks and metadata as the UI shows them."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest

from nf_assets import governance as gov_assets
from nf_services.database import DatabaseResource
from nf_services.governance import experiments

from .conftest import World


@pytest.fixture
def resources(migrated_db_url: str) -> dict:
    return {"db": DatabaseResource(url=migrated_db_url)}


def _check(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetCheckEvaluation:
    (ev,) = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return ev


def test_observer_rollup_check_fails_below_95_percent(world: World, resources: dict) -> None:
    w = world
    for code in ["NF-PROVIDER-002"] * 18 + ["NF-INTERNAL-000"] * 2:  # 90% coverage
        w.job(None, None, None, "SKILL_10", status="failed", error_code=code)
    config = dg.RunConfig({"observer_rollup": gov_assets.ObserverConfig(tenant=w.tenant)})
    result = dg.materialize([gov_assets.observer_rollup], resources=resources, run_config=config)
    assert result.success
    ev = _check(result, "error_code_coverage")
    assert not ev.passed and ev.metadata["coverage"].value == 0.9
    assert ev.metadata["failures"].value == 20

    for _ in range(30):  # 48 of 50 covered: 96%
        w.job(None, None, None, "SKILL_10", status="failed", error_code="NF-PROVIDER-003")
    result = dg.materialize([gov_assets.observer_rollup], resources=resources, run_config=config)
    assert _check(result, "error_code_coverage").passed


def test_experiment_partition_shows_the_decision(world: World, resources: dict) -> None:
    w = world
    name = "faster-shots"
    exp = experiments.create_experiment(
        w.engine,
        tenant_id=w.tenant,
        project_id=w.project,
        name=name,
        target="SKILL_13",
        control_ref="1.0.0",
        candidate_ref="1.1.0",
        metric="latency_ms",
        min_samples=20,
    )
    key = gov_assets.experiment_key(w.tenant, w.project, name)
    instance = dg.DagsterInstance.ephemeral()

    # The sensor turns the new experiment into a partition and asks for a first evaluation.
    ctx = dg.build_sensor_context(instance=instance, resources=resources)
    first = gov_assets.experiment_partitions(ctx)
    assert key in first.dynamic_partitions_requests[0].partition_keys
    assert f"experiment-added:{key}" in {r.run_key for r in first.run_requests}
    instance.add_dynamic_partitions("experiments", [key])
    again = gov_assets.experiment_partitions(
        dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor)
    )
    assert key not in {r.partition_key for r in again.run_requests}

    result = dg.materialize(
        [gov_assets.experiment_decision], partition_key=key, instance=instance, resources=resources
    )
    assert not _check(result, "experiment_conclusive").passed  # no samples yet

    rng = np.random.default_rng(5)
    nid, novel_key = w.novel()
    rid = w.run(nid)
    units = [experiments.unit_id(novel_key, i) for i in range(80)]
    assigned = experiments.assign_units(w.engine, exp["id"], units)
    for i, u in enumerate(units):
        fast = assigned[u] == "candidate"
        ms = int(rng.normal(700 if fast else 1000, 80))
        w.job(rid, nid, i, "SKILL_13", "1.1.0" if fast else "1.0.0", duration_ms=ms)
    result = dg.materialize(
        [gov_assets.experiment_decision], partition_key=key, instance=instance, resources=resources
    )
    ev = _check(result, "experiment_conclusive")
    assert ev.passed and ev.metadata["decision"].value == "promote_candidate"
    meta = result.asset_materializations_for_node("experiment_decision")[0].metadata
    assert meta["p_value"].value < 0.001 and meta["effect_size"].value < 0  # lower latency
    assert meta["variants"].value["candidate"]["latency_ms_mean"] < 800
    assert "proposal_id" in meta


def test_index_audit_asset(resources: dict) -> None:
    config = dg.RunConfig({"index_audit": gov_assets.IndexAuditConfig(seed_jobs=20_000)})
    result = dg.materialize([gov_assets.index_audit_report], resources=resources, run_config=config)
    assert _check(result, "no_seq_scan_on_key_queries").passed


def test_definitions_include_governance() -> None:
    from nf_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"observer_rollup", "experiment_decision", "index_audit"} <= keys
    assert defs.resolve_schedule_def("observer_daily").cron_schedule == "15 0 * * *"
    novel = defs.resolve_job_def("novel_pipeline")
    assert "observer_rollup" not in {
        k.to_user_string() for k in novel.asset_layer.executable_asset_keys
    }


def test_governance_assets_refuse_a_backfill_of_other_assets(resources: dict) -> None:
    """ "Materialize all" on the global lineage sweeps governance into a novels backfill: the
    governance run fails at once with NF-GOV-004; alone (or with its own kind) it runs."""
    import time

    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill

    instance = dg.DagsterInstance.ephemeral()
    for backfill_id, selection in (
        ("allassets", ["observer_rollup", "index_audit", "chapters", "novel_source"]),
        ("governance", ["observer_rollup", "index_audit"]),
    ):
        instance.add_backfill(
            PartitionBackfill(
                backfill_id=backfill_id,
                status=BulkActionStatus.REQUESTED,
                from_failure=False,
                tags={},
                backfill_timestamp=time.time(),
                asset_selection=[dg.AssetKey(k) for k in selection],
            )
        )
    swept = dg.materialize(
        [gov_assets.observer_rollup],
        resources=resources,
        instance=instance,
        tags={"dagster/backfill": "allassets"},
        raise_on_error=False,
    )
    assert not swept.success
    [failure] = swept.get_step_failure_events()
    assert "NF-GOV-004" in failure.step_failure_data.error.message
    alone = dg.materialize(
        [gov_assets.observer_rollup],
        resources=resources,
        instance=instance,
        tags={"dagster/backfill": "governance"},
    )
    assert alone.success
