"""Faults in the middle of the main job (`nf demo`, a real process on a PostgreSQL-backed Dagster
instance): kill -9 while chapters render, then run it again; nf's database connections cut while
chapters render. Finished chapters survive both, and nf's records end as Dagster's runs did."""

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
from sqlalchemy import create_engine, select, text

from shared.models import Base
from tests.conftest import CORPUS, admin_url

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables
CHAPTERS = 4
TIMEOUT = 600


def _demo(db_url: str, instance: dg.DagsterInstance, root: Path, tenant: str):
    env = {
        **os.environ,
        "NF_DATABASE_URL": db_url,
        "NF_DATA_DIR": str(root),
        "DAGSTER_HOME": instance.root_directory,
        "NF_MEDIA_WORKERS": "2",
    }
    args = ["--novel", str(CORPUS / "zh_a_q_zhengzhuan.txt"), "--chapters", str(CHAPTERS)]
    return subprocess.Popen(
        [sys.executable, "-m", "nf_cli.main", "demo", "--tenant", tenant, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group: kill -9 takes the media pool's workers too
    )


def _media_jobs(engine, tenant: str) -> list:
    jobs = T["jobs"]
    with engine.connect() as conn:
        return conn.execute(
            select(jobs.c.chapter_index, jobs.c.status, jobs.c.attempt, jobs.c.run_id).where(
                jobs.c.tenant_id == tenant, jobs.c.skill_id == "EXEC_MEDIA"
            )
        ).all()


def _wait_for_rendered_chapter(engine, tenant: str, proc: subprocess.Popen) -> list:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        done = [j for j in _media_jobs(engine, tenant) if j.status == "succeeded"]
        if done:
            return done
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    raise AssertionError("no chapter rendered in time")


def _runs(engine, tenant: str) -> list:
    runs = T["render_runs"]
    with engine.connect() as conn:
        return conn.execute(
            select(runs).where(runs.c.tenant_id == tenant).order_by(runs.c.started_at)
        ).all()


def test_kill_9_mid_render_then_rerun(engine, migrated_db_url, pg_dagster_instance, tmp_path):
    tenant = f"k{uuid.uuid4().hex[:8]}"
    first = _demo(migrated_db_url, pg_dagster_instance, tmp_path, tenant)
    finished = _wait_for_rendered_chapter(engine, tenant, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished = {j.chapter_index for j in _media_jobs(engine, tenant) if j.status == "succeeded"}
    assert len(finished) < CHAPTERS, "every chapter finished before the kill"

    second = _demo(migrated_db_url, pg_dagster_instance, tmp_path, tenant)
    out, err = second.communicate(timeout=TIMEOUT)
    assert second.returncode == 0, out + err[-3000:]

    killed, rerun = _runs(engine, tenant)
    assert (killed.status, killed.error_code) == ("failed", "NF-ORCH-004")
    assert rerun.status == "succeeded"
    dagster_killed = pg_dagster_instance.get_run_by_id(killed.dagster_run_id)
    assert dagster_killed.status == dg.DagsterRunStatus.FAILURE
    media = _media_jobs(engine, tenant)
    assert sorted(j.chapter_index for j in media) == list(range(1, CHAPTERS + 1))  # one job each
    assert all(j.status == "succeeded" for j in media)
    # chapters finished before the kill were not rendered again; the rest were, once more
    assert {j.chapter_index for j in media if j.run_id == killed.id} == finished
    assert all(j.attempt == 1 for j in media if j.chapter_index in finished)
    assert all(j.run_id == rerun.id for j in media if j.chapter_index not in finished)
    arts = T["artifacts"]
    with engine.connect() as conn:
        keys = conn.execute(
            select(arts.c.idempotency_key).where(arts.c.tenant_id == tenant)
        ).scalars()
        keys = list(keys)
    assert len(keys) == len(set(keys))
    print(
        f"\nkill -9 after {len(finished)}/{CHAPTERS} chapters rendered; rerun rendered "
        f"{CHAPTERS - len(finished)}"
    )


def test_database_connections_cut_mid_render(
    engine, migrated_db_url, pg_dagster_instance, tmp_path
):
    tenant = f"d{uuid.uuid4().hex[:8]}"
    proc = _demo(migrated_db_url, pg_dagster_instance, tmp_path, tenant)
    _wait_for_rendered_chapter(engine, tenant, proc)
    name = engine.url.database
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    cut = 0
    with admin.connect() as conn:
        for _ in range(3):  # every connection of nf's database, three times over two seconds
            cut += conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": name},
            ).scalar()
            time.sleep(1)
    admin.dispose()
    engine.dispose()  # the test's own pooled connections were cut too
    out, err = proc.communicate(timeout=TIMEOUT)
    assert cut > 0
    assert proc.returncode == 0, out + err[-3000:]
    # a cut idle connection is replaced at checkout (pool_pre_ping); one cut mid-statement is
    # classified NF-DB-001 and the transaction retried (shared.retry.call_db): either way the
    # run goes on
    [run] = _runs(engine, tenant)
    assert run.status == "succeeded"
    media = _media_jobs(engine, tenant)
    assert len(media) == CHAPTERS and all(j.status == "succeeded" for j in media)
    assert all(j.attempt == 1 for j in media)  # nothing rendered twice
