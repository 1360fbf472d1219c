"""A small real novel through the distributed deployment on one machine: artifacts and step outputs
in an S3 endpoint (moto_server on 127.0.0.1), every step on a dagster-celery worker and every
chapter's media work on a Celery media worker, both separate processes on the local RabbitMQ
(queues named per test run, so parallel sessions do not take each other's tasks).

Checks: the run succeeds with its gates; every artifact nf recorded is in the bucket and nothing
is under the local artifact root; each asset's step output is in the bucket; the steps ran in the
step worker's processes and the chapters in the media worker's (process ancestry, not just
"another pid"); the gateway streams a chapter video out of the bucket byte for byte."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from nf_cli.demo import QUIET, first_chapters
from nf_cli.local_cluster import (
    delete_queues,
    port_open,
    start_media_worker,
    start_step_worker,
    stop,
    wait_ready,
)
from shared.models import Base
from tests.conftest import CORPUS
from tests.distributed.conftest import bucket_keys

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables
BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"


def ancestors(pid: int) -> list[int]:
    """pid's parent chain (from /proc), nearest first."""
    chain = []
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


@pytest.fixture
def workers(s3_settings, pg_dagster_instance, migrated_db_url, tmp_path, monkeypatch):
    """A dagster-celery step worker and a media worker, each its own process group, on queues of
    this test run; ended (and their queues deleted) in the finalizer."""
    pytest.importorskip("dagster_celery", reason="the 'distributed' extra is not installed")
    if not port_open("127.0.0.1", 5672):
        if os.environ.get("CI"):
            pytest.fail("RabbitMQ is not listening on 127.0.0.1:5672")
        pytest.skip("no RabbitMQ on 127.0.0.1:5672")
    from shared.config import get_settings

    run = uuid.uuid4().hex[:10]
    steps_q, media_q = f"nf-test-steps-{run}", f"nf-test-media-{run}"
    for k, v in {
        "NF_CELERY_BROKER_URL": BROKER,
        "NF_CELERY_BACKEND_URL": "rpc://",
        "NF_CELERY_QUEUE": steps_q,
        "NF_MEDIA_EXECUTOR": "celery",
        "NF_MEDIA_QUEUE": media_q,
    }.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    procs = {}
    try:
        procs["steps"] = start_step_worker(os.environ, steps_q, f"steps-{run}", tmp_path)
        procs["media"] = start_media_worker(os.environ, media_q, f"media-{run}", tmp_path)
        for name, proc in procs.items():
            wait_ready(proc, tmp_path / f"{name}-{run}.log", f"{name} worker")
        yield {name: p.pid for name, p in procs.items()}
    finally:
        for p in procs.values():
            stop(p)
        delete_queues(BROKER, [steps_q, media_q])
        get_settings.cache_clear()


def test_a_novel_on_s3_and_celery_workers(
    engine, pg_dagster_instance, s3_settings, workers, tmp_path
):
    import dagster as dg

    from nf_cli.runs import run_novel_distributed
    from nf_gateway.app import create_app
    from nf_gateway.deps import GatewayConfig
    from nf_gateway.server import serve_in_thread
    from nf_gateway.testing import login, seed_cast
    from shared.storage import artifact_store

    cast = seed_cast(engine)
    data = first_chapters((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes(), 2)
    run = run_novel_distributed(
        engine,
        tenant=cast.a,
        project=cast.project,
        slug="aq-distributed",
        data=data,
        instance=pg_dagster_instance,
        run_config=QUIET,
    )
    result = run.result
    assert result.success, [
        e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ]
    checks = {
        e.asset_check_evaluation_data.asset_check_key.name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["content_gate"] and checks["media_gate"], checks

    # every artifact nf recorded is an object in the bucket; nothing went to local disk
    with engine.connect() as conn:
        paths = set(
            conn.execute(
                select(T["artifacts"].c.path).where(T["artifacts"].c.tenant_id == cast.a)
            ).scalars()
        )
    kinds = {p.rsplit(".", 1)[1] for p in paths}
    assert {"mp4", "srt", "vtt", "png", "wav", "json"} <= kinds, kinds
    objects = set(bucket_keys(s3_settings, s3_settings.s3_prefix + "/"))
    assert {f"{s3_settings.s3_prefix}/{p}" for p in paths} <= objects
    local_root = Path(os.environ["NF_ARTIFACT_ROOT"])
    assert not local_root.exists() or not any(p.is_file() for p in local_root.rglob("*"))

    # step outputs: one pickle per asset of the run, under the step prefix, keyed by partition
    steps = bucket_keys(s3_settings, s3_settings.s3_step_prefix + "/")
    for asset in ("chapters", "panels_and_narration", "chapter_videos", "export_record"):
        key = f"{s3_settings.s3_step_prefix}/{asset}/{run.partition_key}"
        assert key in steps, (key, steps[:20])
    # ...and none where the local IO manager keeps them (DAGSTER_HOME/storage/<asset>/...)
    home_storage = Path(pg_dagster_instance.storage_directory())
    assert not (home_storage / "chapter_videos").exists()

    # every step ran in a process of the step worker, none in this one
    starts = pg_dagster_instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_START)
    step_pids = {e.dagster_event.pid for e in starts}
    assert starts and os.getpid() not in step_pids
    assert all(workers["steps"] in ancestors(pid) for pid in step_pids), step_pids

    # every chapter's media work ran in the media worker's processes
    for asset in ("panels_and_narration", "chapter_videos"):
        [mat] = result.asset_materializations_for_node(asset)
        names = mat.metadata["media_workers"].value
        pids = {int(w.rsplit(":", 1)[1]) for w in names.split(", ")}
        assert pids and os.getpid() not in pids and not pids & step_pids, (asset, names)
        assert all(workers["media"] in ancestors(pid) for pid in pids), (asset, names)
    [media] = result.asset_materializations_for_node("panels_and_narration")
    assert media.metadata["chapters_computed"].value == 2

    # the gateway streams a chapter video out of the bucket, byte for byte
    with engine.connect() as conn:
        video_id, video_path = conn.execute(
            select(T["artifacts"].c.id, T["artifacts"].c.path).where(
                T["artifacts"].c.tenant_id == cast.a, T["artifacts"].c.path.like("%.mp4")
            )
        ).first()
    app = create_app(GatewayConfig(engine.url.render_as_string(False), str(local_root), 1 << 20))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        headers = login(client, cast.email("viewer"))
        with client.stream("GET", f"/v1/artifacts/{video_id}", headers=headers) as r:
            assert r.status_code == 200, r.read()
            body = b"".join(r.iter_bytes())
            assert r.headers["content-type"] == "video/mp4"
            assert int(r.headers["content-length"]) == len(body)
    assert body == artifact_store(s3_settings).open_bytes(video_path)
    assert not local_root.exists() or not any(p.is_file() for p in local_root.rglob("*"))
