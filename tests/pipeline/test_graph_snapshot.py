"""The asset graph as data: an accidental change to assets, dependencies, groups or checks shows
up as a diff of tests/snapshots/asset_graph.json (NF_UPDATE_SNAPSHOTS=1 rewrites it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest

from nf_assets.definitions import defs

REPO = Path(__file__).resolve().parent.parent.parent
SNAPSHOT = REPO / "tests" / "snapshots" / "asset_graph.json"


def graph_doc() -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "partitioned": node.partitions_def is not None,
            "code_version": node.code_version,
        }
    checks = {}
    for ck in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name)):
        spec = graph.get_check_spec(ck)
        checks[f"{ck.asset_key.to_user_string()}:{ck.name}"] = {
            "blocking": spec.blocking,
            "extra_inputs": sorted(d.asset_key.to_user_string() for d in spec.additional_deps),
        }
    # each job with what it materializes: a selection change shows up here
    jobs = {
        j.name: sorted(k.to_user_string() for k in j.asset_layer.selected_asset_keys)
        for j in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name)
        if not j.name.startswith("__")
    }
    repo = defs.get_repository_def()

    def targets(d) -> str:
        if isinstance(d, dg.ScheduleDefinition):
            return d.job_name
        return ", ".join(sorted(j.name for j in d.jobs)) if d.has_jobs else "no job"

    automation = {
        **{
            s.name: f"sensor, {s.default_status.value.lower()}, every "
            f"{s.minimum_interval_seconds}s -> {targets(s)}"
            for s in repo.sensor_defs
        },
        **{
            s.name: f"schedule, {s.default_status.value.lower()}, {s.cron_schedule} -> {targets(s)}"
            for s in repo.schedule_defs
        },
    }
    return {"assets": assets, "checks": checks, "jobs": jobs, "automation": automation}


def upstream(doc: dict, key: str) -> set[str]:
    seen, todo = set(), list(doc["assets"][key]["deps"])
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo += doc["assets"][k]["deps"]
    return seen


def test_graph_matches_snapshot():
    doc = graph_doc()
    if os.environ.get("NF_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    assert doc == json.loads(SNAPSHOT.read_text())


def test_seed_order_holds():
    doc = graph_doc()
    assert "personas" in doc["assets"]["scripts"]["deps"]  # SKILL_14 feeds SKILL_10
    plan_deps = doc["assets"]["render_plans"]["deps"]
    assert {"style_bible", "continuity"} <= set(plan_deps)  # SKILL_15/19 before SKILL_09
    # SKILL_20 between planning and every executor: executors see planning only through it
    assert doc["assets"]["panels_and_narration"]["deps"] == ["compiled_prompts"]
    assert "render_plans" in upstream(doc, "compiled_prompts")
    assert doc["checks"]["storyboards:content_gate"]["blocking"]
    assert doc["checks"]["chapter_videos:media_gate"]["blocking"]


def test_definitions_load():
    assert isinstance(defs, dg.Definitions)
    defs.resolve_all_job_defs()


@pytest.mark.pg
def test_dagster_validates_the_workspace(tmp_path):
    """What `dagster dev` loads: workspace.yaml -> nf_assets.definitions, with dagster.yaml's
    PostgreSQL storage (a psycopg2 URL) on a fresh database."""
    import shutil
    import subprocess
    import sys

    from tests.conftest import create_database, drop_database

    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")
    url = create_database("nf_dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "NF_DAGSTER_PG_URL": url}
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            str(REPO / "workspace.yaml"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    drop_database(url)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Validation successful for code location novel_factory" in proc.stderr + proc.stdout


def test_ui_launched_partition_runs_carry_tenant_tags():
    job = defs.resolve_job_def("novel_pipeline")
    tags = job.partitioned_config.get_tags_for_partition_key("acme.fantasy.xiyouji")
    assert tags["nf/tenant"] == "acme" and tags["nf/project"] == "fantasy"
