"""Distributed execution: the same small novel (a fresh tenant per run, so the skill cache serves
nothing) through four deployments on this one machine; prints wall time and the ratio to local.

    local      novel_pipeline in-process, local artifacts, chapters in the op's process pool
    s3         the same, artifacts and step outputs in S3 (moto_server on 127.0.0.1)
    celery     novel_pipeline_celery: every step a task on a dagster-celery worker, S3 storage,
               chapters in that worker's process pool
    celery+m   the same, chapters as Celery tasks on a media worker (NF_MEDIA_EXECUTOR=celery)

    .venv/bin/python bench/bench_distributed.py --chapters 2 [--repeat 1] [--modes local,celery]

Needs RabbitMQ on 127.0.0.1:5672 and the 'distributed' extra. nf's database: NF_DATABASE_URL or
the embedded server; Dagster's storage: a fresh database beside it (dropped at the end). On one
machine the workers share its cores, so this measures what distribution costs (task hand-off,
object-store round trips, per-step process work), not what more machines would gain.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
BROKER = "pyamqp://guest:guest@127.0.0.1:5672//"
MODES = ("local", "s3", "celery", "celery+m")


def run_once(mode: str, data: bytes, instance, workdir: Path) -> float:
    from nf_cli.demo import QUIET
    from nf_cli.runs import run_novel, run_novel_distributed
    from shared.db import get_engine

    tenant = f"b{uuid.uuid4().hex[:8]}"
    t0 = time.perf_counter()
    if mode == "local":
        run = run_novel(
            get_engine(),
            workdir / "artifacts",
            tenant=tenant,
            project="bench",
            slug="dist",
            data=data,
            instance=instance,
            run_config=QUIET,
        )
    elif mode == "s3":
        run = run_novel(
            get_engine(),
            None,
            tenant=tenant,
            project="bench",
            slug="dist",
            data=data,
            instance=instance,
            run_config=QUIET,
        )
    else:
        run = run_novel_distributed(
            get_engine(),
            tenant=tenant,
            project="bench",
            slug="dist",
            data=data,
            instance=instance,
            run_config=QUIET,
        )
    seconds = time.perf_counter() - t0
    if not run.result.success:
        raise SystemExit(f"{mode}: run {run.result.run_id} failed")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chapters", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"unknown modes {sorted(unknown)}; choose from {', '.join(MODES)}")

    import dagster as dg
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from migrations import runner
    from nf_cli.demo import first_chapters
    from nf_cli.local_cluster import (
        delete_queues,
        port_open,
        start_media_worker,
        start_moto,
        start_step_worker,
        stop,
        wait_ready,
    )
    from shared.config import REPO_ROOT, get_settings
    from shared.db import database_url
    from shared.storage_s3 import client_for

    if any(m.startswith("celery") for m in modes) and not port_open("127.0.0.1", 5672):
        raise SystemExit("no RabbitMQ on 127.0.0.1:5672")
    url = database_url()
    runner.upgrade(url, "head")
    data = first_chapters((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes(), args.chapters)
    tag = uuid.uuid4().hex[:8]
    dagster_db = f"nf_bench_dagster_{tag}"
    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{dagster_db}"'))
    results: dict[str, list[float]] = {}
    procs = []
    with tempfile.TemporaryDirectory(prefix="nf-bench-dist-") as tmp:
        work = Path(tmp)
        home = work / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
        steps_q, media_q = f"nf-bench-steps-{tag}", f"nf-bench-media-{tag}"
        os.environ.update(
            DAGSTER_HOME=str(home),
            NF_DAGSTER_PG_URL=make_url(url)
            .set(database=dagster_db)
            .render_as_string(hide_password=False),
            NF_DATABASE_URL=url,
            NF_S3_BUCKET=f"nf-bench-{tag}",
            NF_S3_ACCESS_KEY_ID="bench",
            NF_S3_SECRET_ACCESS_KEY="bench",
            NF_S3_CACHE_DIR=str(work / "s3-cache"),
            NF_CELERY_BROKER_URL=BROKER,
            NF_CELERY_BACKEND_URL="rpc://",
            NF_CELERY_QUEUE=steps_q,
            NF_MEDIA_QUEUE=media_q,
        )
        moto, endpoint = start_moto(work / "moto.log")
        procs.append(moto)
        try:
            os.environ["NF_S3_ENDPOINT_URL"] = endpoint
            get_settings.cache_clear()
            client_for(get_settings()).create_bucket(Bucket=os.environ["NF_S3_BUCKET"])
            instance = dg.DagsterInstance.get()
            for mode in modes:
                os.environ["NF_ARTIFACT_BACKEND"] = "local" if mode == "local" else "s3"
                os.environ["NF_MEDIA_EXECUTOR"] = "celery" if mode == "celery+m" else "process"
                get_settings.cache_clear()
                workers = []
                if mode.startswith("celery"):
                    name = f"steps-{mode.replace('+', '')}-{tag}"
                    workers.append((start_step_worker(os.environ, steps_q, name, work), name))
                if mode == "celery+m":
                    name = f"media-{tag}"
                    workers.append((start_media_worker(os.environ, media_q, name, work), name))
                procs += [p for p, _ in workers]
                for proc, name in workers:
                    wait_ready(proc, work / f"{name}.log", name)
                results[mode] = [run_once(mode, data, instance, work) for _ in range(args.repeat)]
                for proc, _ in workers:
                    stop(proc)
                med = statistics.median(results[mode])
                print(
                    f"  {mode:<9} median {med:7.2f}s  runs {[round(t, 2) for t in results[mode]]}"
                    f"  {args.chapters / med:5.3f} chapters/s",
                    flush=True,
                )
            instance.dispose()
        finally:
            for proc in procs:
                stop(proc)
            if any(m.startswith("celery") for m in modes):
                delete_queues(BROKER, [steps_q, media_q])
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{dagster_db}" WITH (FORCE)'))
    base = results.get("local")
    if base:
        b = statistics.median(base)
        for mode, times in results.items():
            if mode != "local":
                print(f"  ratio {mode}/local = {statistics.median(times) / b:.2f}")


if __name__ == "__main__":
    main()
