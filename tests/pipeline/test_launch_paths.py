"""Runs launched as in production: `dagster-daemon` over workspace.yaml on a PostgreSQL-backed
instance. Novels of two tenants are submitted as the gateway does (`nf submit`), the intake
sensor turns them into runs that the queued coordinator and the code server's run launcher
execute; then the UI's two backfills over both partitions (the job's, and two assets' through
Dagster's implicit asset job), launched through the webserver's GraphQL API as the UI does.
Every run succeeds and carries its tenant, every request ends succeeded, each check result has
its partition, and nf's run rows end as Dagster's runs did."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import httpx
import pytest
from sqlalchemy import select

from nf_assets.run_coordinator import partition_of
from shared.models import Base
from tests.conftest import CORPUS, REPO

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables
TIMEOUT = 420
STATUS = {
    dg.DagsterRunStatus.SUCCESS: "succeeded",
    dg.DagsterRunStatus.FAILURE: "failed",
    dg.DagsterRunStatus.CANCELED: "cancelled",
}


def _nf(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "nf_cli.main", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return httpx.post(url, json={"query": "{ version }"}, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


LAUNCH = """
mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""


def _launch_backfill(url: str, params: dict) -> dict:
    reply = httpx.post(url, json={"query": LAUNCH, "variables": {"p": params}}, timeout=60)
    reply.raise_for_status()
    return reply.json()["data"]["launchPartitionBackfill"]


def _until(what: str, check, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def _requests(engine, tenants: list[str]) -> list:
    req = T["execution_requests"]
    with engine.connect() as conn:
        return conn.execute(select(req).where(req.c.tenant_id.in_(tenants))).all()


def test_daemon_intake_and_backfill(engine, migrated_db_url, pg_dagster_instance, tmp_path):
    from nf_cli.demo import first_chapters

    instance = pg_dagster_instance
    env = {
        **os.environ,
        "NF_DATABASE_URL": migrated_db_url,
        "NF_DATA_DIR": str(tmp_path),
        "DAGSTER_HOME": instance.root_directory,
        "NF_MEDIA_WORKERS": "2",
    }
    tenants = [f"la{uuid.uuid4().hex[:6]}", f"lb{uuid.uuid4().hex[:6]}"]
    books = {tenants[0]: "zh_a_q_zhengzhuan.txt", tenants[1]: "en_alice_in_wonderland.txt"}
    for tenant, name in books.items():
        path = tmp_path / f"{tenant}.txt"
        path.write_bytes(first_chapters((CORPUS / name).read_bytes(), 2))
        _nf(env, "tenant", "create", tenant)
        _nf(env, "project", "create", tenant, "books")
        _nf(env, "submit", str(path), "--tenant", tenant, "--project", "books", "--slug", "n1")

    children = []
    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run"],
        cwd=REPO,  # workspace.yaml
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    children.append(daemon)
    try:
        ended = ("succeeded", "failed", "cancelled")
        rows = _until(
            "both requests to end",
            lambda: (r := _requests(engine, tenants)) and all(x.status in ended for x in r) and r,
        )
        assert [r.status for r in rows] == ["succeeded", "succeeded"], rows
        requests = rows
        keys = sorted(f"{t}.books.n1" for t in tenants)

        # the UI's "Launch backfill": on the job page (novel_pipeline), and on the asset page
        # for two assets (Dagster's implicit asset job: tagged by NovelRunCoordinator)
        port = _free_port()
        web = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster-webserver")),
                *("-h", "127.0.0.1", "-p", str(port), "-w", str(REPO / "workspace.yaml")),
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        children.append(web)
        url = f"http://127.0.0.1:{port}/graphql"
        _until("the webserver", lambda: _answers(url), timeout=120)
        location = {"repositoryLocationName": "novel_factory", "repositoryName": "__repository__"}
        job_backfill = {
            "selector": {
                "partitionSetName": "novel_pipeline_partition_set",
                "repositorySelector": location,
            },
            "partitionNames": keys,
        }
        asset_backfill = {
            "partitionNames": keys,
            "assetSelection": [{"path": ["subtitles"]}, {"path": ["chapter_videos"]}],
        }
        for params in (job_backfill, asset_backfill):
            answer = _launch_backfill(url, params)
            assert answer["__typename"] == "LaunchBackfillSuccess", answer

        def backfill_runs():
            runs = [r for r in instance.get_runs() if "dagster/backfill" in r.tags]
            return len(runs) == 4 and all(r.is_finished for r in runs) and runs

        backfilled = _until("the backfills' runs", backfill_runs)
        assert {r.status for r in backfilled} == {dg.DagsterRunStatus.SUCCESS}
        assert sorted(partition_of(r.tags) for r in backfilled) == sorted(keys * 2)
        assert {r.job_name for r in backfilled} == {"novel_pipeline", "__ASSET_JOB"}
        # every run carries its tenant (the per-tenant concurrency limit binds them all)
        for r in backfilled:
            assert r.tags["nf/tenant"] == partition_of(r.tags).split(".")[0], r.tags
        # the media gate's results in the check history, one per novel run, with its partition
        check = dg.AssetCheckKey(dg.AssetKey("chapter_videos"), "media_gate")
        history = instance.event_log_storage.get_asset_check_execution_history(check, limit=200)
        by_run = {h.run_id: h for h in history}
        ours = [*backfilled, *(instance.get_run_by_id(r.dagster_run_id) for r in requests)]
        for run in ours:  # intake 2 + job backfill 2 + asset backfill 2, each with its novel
            assert by_run[run.run_id].partition == partition_of(run.tags), run.run_id
        assert all(h.partition for h in history), [(h.run_id, h.status) for h in history]

        # nf's records agree with Dagster's for every run (give the status sensors a tick)
        def agreed():
            runs = T["render_runs"]
            with engine.connect() as conn:
                rows = conn.execute(select(runs).where(runs.c.tenant_id.in_(tenants))).all()
            ours = {r.run_id for r in backfilled} | {r.dagster_run_id for r in requests}
            rows = [r for r in rows if r.dagster_run_id in ours]  # not a schedule's tick
            pairs = [
                (r.status, STATUS.get(instance.get_run_by_id(r.dagster_run_id).status))
                for r in rows
            ]
            return len(rows) == 6 and all(a == b for a, b in pairs) and rows

        rows = _until("nf's run rows to match Dagster's", agreed, timeout=120)
        assert {r.status for r in rows} == {"succeeded"}
    finally:
        for child in children:
            os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):  # and the code servers they started
                os.killpg(child.pid, signal.SIGKILL)
