"""Several novels of two tenants, both languages, in ONE PostgreSQL-backed Dagster instance, each
materialized in turn and then the first again: the way the platform is used. The checks are per
novel and no step of one novel's run reads another novel's step outputs."""

from __future__ import annotations

import uuid

import pytest
from dagster._core.storage.upath_io_manager import UPathIOManager
from sqlalchemy import select

from nf_cli.demo import QUIET, first_chapters
from nf_cli.runs import run_novel
from shared.models import Base
from tests.conftest import CORPUS

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables


@pytest.fixture
def loads(monkeypatch) -> list[tuple[str, frozenset[str]]]:
    """Every step-output load: (the run's partition, the partitions it read)."""
    seen: list[tuple[str, frozenset[str]]] = []
    original = UPathIOManager.load_input

    def spy(self, context):
        if context.has_asset_partitions:
            run_partition = context.step_context.partition_key
            seen.append((run_partition, frozenset(context.asset_partition_keys)))
        return original(self, context)

    monkeypatch.setattr(UPathIOManager, "load_input", spy)
    return seen


def test_three_novels_two_tenants_then_the_first_again(
    engine, pg_dagster_instance, tmp_path, loads
):
    a, b = f"ta{uuid.uuid4().hex[:6]}", f"tb{uuid.uuid4().hex[:6]}"
    novels = [
        (a, "zh_a_q_zhengzhuan.txt", "aq"),
        (b, "en_alice_in_wonderland.txt", "alice"),
        (a, "zh_xiyouji.txt", "xyj"),
    ]
    runs = []
    for tenant, name, slug in [*novels, novels[0]]:
        data = first_chapters((CORPUS / name).read_bytes(), 2)
        run = run_novel(
            engine,
            tmp_path / "artifacts",
            tenant=tenant,
            project="books",
            slug=slug,
            data=data,
            instance=pg_dagster_instance,
            run_config=QUIET,
        )
        runs.append(run)
        assert run.result.success, f"{run.partition_key} failed"
        checks = run.result.get_asset_check_evaluations()
        names = {c.asset_check_key.name: c.passed for c in checks}
        assert set(names) == {"content_gate", "media_gate", "retrieval_regression"}
        assert names["content_gate"] and names["media_gate"]
        assert {c.partition for c in checks} == {run.partition_key}
        # the videos table a user clicks: titles, lengths, the gateway's download links
        [videos] = run.result.asset_materializations_for_node("chapter_videos")
        table = videos.metadata["videos_table"].value
        assert table.count("/v1/artifacts/") == 3 * 2, table  # mp4, srt, vtt per chapter

    assert loads, "the spy saw no step-output loads"
    foreign = [(p, keys) for p, keys in loads if keys != {p}]
    assert not foreign, f"steps read other partitions' outputs: {foreign[:3]}"

    # the check history holds one row per novel run, each with its partition
    records = pg_dagster_instance.event_log_storage.get_asset_check_execution_history(
        next(iter(runs[0].result.get_asset_check_evaluations())).asset_check_key, limit=10
    )
    assert len(records) == 4

    # nf's records agree with Dagster's: four runs, all ended succeeded
    runs_t = T["render_runs"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(runs_t.c.dagster_run_id, runs_t.c.status).where(runs_t.c.tenant_id.in_([a, b]))
        ).all()
    assert {r.dagster_run_id for r in rows} == {r.result.run_id for r in runs}
    assert {r.status for r in rows} == {"succeeded"}
    # the second run of the first novel came entirely from the skill cache
    again = runs[3].result
    media = again.asset_materializations_for_node("panels_and_narration")
    assert media and media[0].metadata["chapters_computed"].value == 0


def test_a_partition_added_by_hand_fails_at_once_with_its_code(
    engine, migrated_db_url, pg_dagster_instance, tmp_path
):
    """The UI's launch dialog can add a partition nf has no novel for: its run fails in its first
    step, without retries, with NF-INPUT-010 and how to register a novel."""
    import dagster as dg

    from nf_assets.definitions import defs
    from nf_assets.lifecycle import failure_of
    from nf_services.database import ArtifactStoreResource, DatabaseResource

    key = f"h{uuid.uuid4().hex[:6]}.books.ghost"
    pg_dagster_instance.add_dynamic_partitions("novels", [key])
    result = defs.resolve_job_def("novel_pipeline").execute_in_process(
        partition_key=key,
        instance=pg_dagster_instance,
        raise_on_error=False,
        run_config=QUIET,
        resources={
            "db": DatabaseResource(url=migrated_db_url),
            "store": ArtifactStoreResource(root=str(tmp_path)),
        },
    )
    assert not result.success
    retries = pg_dagster_instance.all_logs(
        result.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY
    )
    assert not retries
    error = failure_of(pg_dagster_instance, result.run_id)
    assert error.code == "NF-INPUT-010" and "nf submit" in error.detail
    runs_t = T["render_runs"]  # no tenant, no project: nothing of nf's to record it on
    with engine.connect() as conn:
        assert not conn.execute(
            select(runs_t).where(runs_t.c.dagster_run_id == result.run_id)
        ).all()
