"""Runs launched as in production: `dagster-daemon` over workspace.yaml on a PostgreSQL-backed
instance. Novels of two tenants are submitted as the gateway does (`nf submit`), the intake
sensor turns them into runs that the queued coordinator and the code server's run launcher
execute; then a job backfill over both partitions runs them again. Every run succeeds, every
request ends succeeded, and nf's run rows end as Dagster's runs did."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import select

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

    daemon = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-daemon")), "run"],
        cwd=REPO,  # workspace.yaml
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        ended = ("succeeded", "failed", "cancelled")
        rows = _until(
            "both requests to end",
            lambda: (r := _requests(engine, tenants)) and all(x.status in ended for x in r) and r,
        )
        assert [r.status for r in rows] == ["succeeded", "succeeded"], rows
        keys = sorted(f"{t}.books.n1" for t in tenants)

        # the UI's "Launch backfill" on the job page, over both novels
        subprocess.run(
            [
                str(Path(sys.executable).with_name("dagster")),
                "job",
                "backfill",
                "-w",
                str(REPO / "workspace.yaml"),
                "-j",
                "novel_pipeline",
                "--partitions",
                ",".join(keys),
                "--noprompt",
            ],
            env=env,
            check=True,
            capture_output=True,
        )

        def backfill_runs():
            runs = [r for r in instance.get_runs() if "dagster/backfill" in r.tags]
            return len(runs) == 2 and all(r.is_finished for r in runs) and runs

        backfilled = _until("the backfill's runs", backfill_runs)
        assert {r.status for r in backfilled} == {dg.DagsterRunStatus.SUCCESS}
        assert sorted(r.tags["dagster/partition"] for r in backfilled) == keys
        # the backfill's runs carry the tenant tags (per-tenant concurrency limits)
        assert sorted(r.tags["nf/tenant"] for r in backfilled) == sorted(tenants)

        # nf's records agree with Dagster's for every run (give the status sensors a tick)
        def agreed():
            runs = T["render_runs"]
            with engine.connect() as conn:
                rows = conn.execute(select(runs).where(runs.c.tenant_id.in_(tenants))).all()
            pairs = [
                (r.status, STATUS.get(instance.get_run_by_id(r.dagster_run_id).status))
                for r in rows
            ]
            return len(rows) == 4 and all(a == b for a, b in pairs) and rows

        rows = _until("nf's run rows to match Dagster's", agreed, timeout=120)
        assert {r.status for r in rows} == {"succeeded"}
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
