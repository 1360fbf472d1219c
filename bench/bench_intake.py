"""Intake at volume: N queued execution requests become Dagster runs of the real `novel_pipeline`
on a PostgreSQL-backed instance, driven by Dagster's own sensor daemon.

    .venv/bin/python bench/bench_intake.py [--requests 1000] [--tenants 5] [--profile FILE]

Setup (not timed): a fresh nf database at head and a fresh Dagster database, a DAGSTER_HOME with
the repo's dagster.yaml (--baseline: as before issue 13, plain dagster-postgres storage and no
`sensors:` block; pass --cap 50 too for the old tick size), N novels registered and N requests
submitted through the write path (nf_gateway.service), spread over --tenants tenants.
Timed: Dagster's `SensorDaemon.core_loop` (what `dagster-daemon run` runs for sensors: the same
thread pools from the instance's `sensors:` settings, the 5 s loop) over workspace.yaml, so the
code location runs in a gRPC code server process as deployed; every sensor of the code location
ticks, as in production.

Runs do not execute: only the sensor daemon runs, not the run queue's daemon, so every run
created stays QUEUED (created and submitted to NovelRunCoordinator, never dequeued).

Prints the time from the first tick until every request has a Dagster run, runs/s, each intake
tick (runs, seconds), and the checks: one run per request (none lost, none doubled: counted by
the runs' nf/request_id tags and by Dagster's run keys), every request claimed once (its
request.claimed events) and, after one more tick, its run id recorded on the request.
`--profile FILE` runs the daemon without thread pools under cProfile and writes the stats
(the code server's share shows as gRPC waits).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import yaml
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
ADMIN = os.environ.get(
    "NF_TEST_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
SENSOR = "intake_sensor"


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(ADMIN).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def seed(engine, store, n: int, tenants: int) -> list[uuid.UUID]:
    """N novels and N requests, round-robin over `tenants` fresh tenants (one project each)."""
    from nf_gateway import service
    from nf_gateway.principal import system_operator
    from nf_gateway.testing import TWO_CHAPTERS

    op = system_operator()
    s = uuid.uuid4().hex[:6]
    names = [f"bench{s}{i}" for i in range(tenants)]
    for t in names:
        service.create_tenant(engine, op, tenant_id=t, name=t)
        service.create_project(engine, op, tenant_id=t, project_id="books")
    ids = []
    for i in range(n):
        tenant = names[i % tenants]
        slug = f"n{i}"
        trace = uuid.uuid4().hex
        service.upload_novel(
            engine,
            store,
            op,
            tenant_id=tenant,
            project_id="books",
            data=TWO_CHAPTERS,
            trace_id=trace,
            slug=slug,
        )
        done = service.submit_request(
            engine,
            op,
            tenant_id=tenant,
            project_id="books",
            novel=slug,
            idempotency_key=uuid.uuid4().hex,
            trace_id=trace,
        )
        ids.append(done.request["id"])
    return ids


def run_counts(instance, ids: list[uuid.UUID]) -> tuple[int, Counter]:
    """(runs carrying our request tags, runs per request id)."""
    import dagster as dg

    from nf_assets.runtime import TAG_REQUEST

    wanted = {str(i) for i in ids}
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR}))
    per = Counter(r.tags.get(TAG_REQUEST) for r in runs if r.tags.get(TAG_REQUEST) in wanted)
    return sum(per.values()), per


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--tenants", type=int, default=5)
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--cap", type=int, default=None, help="NF_INTAKE_MAX_RUNS_PER_TICK")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="the instance as before issue 13: plain dagster-postgres storage, no sensors: block",
    )
    p.add_argument("--profile", default=None, help="cProfile the daemon (no thread pools)")
    p.add_argument("--keep", action="store_true", help="keep the databases")
    args = p.parse_args()

    nf_url = create_database("nf_bench")
    dg_url = create_database("nf_bench_dagster")
    home = Path(tempfile.mkdtemp(prefix="bench_intake_"))
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    if args.baseline:
        config["storage"] = {"postgres": {"postgres_url": {"env": "NF_DAGSTER_PG_URL"}}}
        config.pop("sensors", None)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    print(f"instance storage: {config['storage']}")
    if args.cap:
        os.environ["NF_INTAKE_MAX_RUNS_PER_TICK"] = str(args.cap)
    os.environ.update(
        NF_DATABASE_URL=nf_url,
        NF_DAGSTER_PG_URL=dg_url,
        DAGSTER_HOME=str(home),
        NF_ARTIFACT_ROOT=str(home / "artifacts"),
    )
    try:
        bench(args, nf_url, home)
    finally:
        if not args.keep:
            from shared.db import get_engine

            get_engine.cache_clear()
            drop_database(nf_url)
            drop_database(dg_url)


def bench(args, nf_url: str, home: Path) -> None:
    import dagster as dg
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.daemon import SensorDaemon

    import nf_assets.runtime  # noqa: F401  (imported by run_counts; not inside the clock)
    from migrations import runner
    from shared.db import get_engine
    from shared.models import Base
    from shared.storage import LocalArtifactStore

    runner.upgrade(nf_url, "head")
    engine = get_engine(nf_url)
    t0 = time.perf_counter()
    ids = seed(engine, LocalArtifactStore(home / "artifacts"), args.requests, args.tenants)
    took = time.perf_counter() - t0
    print(f"seeded {len(ids)} requests over {args.tenants} tenants in {took:.1f} s")

    instance = dg.DagsterInstance.get()
    settings = instance.get_settings("sensors")
    if args.profile:
        settings = {}
    print(f"sensor daemon settings: {dict(settings) or 'defaults (no threads)'}")
    target = WorkspaceFileTarget([str(REPO / "workspace.yaml")])
    with create_test_daemon_workspace_context(target, instance) as ctx:
        # the code server is up before the clock starts (the daemon's is, in production)
        ctx.create_request_context().get_code_location("novel_factory")
        daemon = SensorDaemon(settings)
        daemon._logger.setLevel(logging.WARNING)  # one INFO line per run otherwise
        stop = threading.Event()
        profiler = cProfile.Profile() if args.profile else None

        def loop() -> None:
            if profiler:
                profiler.enable()
            for _ in daemon.core_loop(ctx, stop):
                if stop.is_set():
                    break
            if profiler:
                profiler.disable()

        sensor_runs = dg.RunsFilter(tags={"dagster/sensor_name": SENSOR})
        thread = threading.Thread(target=loop, daemon=True)
        print(f"code server up; the clock starts ({len(ids)} requests queued)", flush=True)
        start = time.perf_counter()
        thread.start()
        done_at = None
        while time.perf_counter() - start < args.timeout:
            # a count, not the runs: the poll shares the daemon's process (and its GIL)
            if instance.get_runs_count(sensor_runs) >= len(ids):
                done_at = time.perf_counter() - start
                break
            time.sleep(1)
        # one more tick records the run ids on the requests (the sensor's reconcile step)
        time.sleep(6)
        stop.set()
        thread.join(timeout=120)
        daemon.__exit__(None, None, None)
        if profiler:
            profiler.dump_stats(args.profile)
            print(f"profile written to {args.profile}")

        report(instance, engine, ids, done_at, args.timeout, Base)


def report(instance, engine, ids, done_at, timeout, Base) -> None:
    import dagster as dg
    from dagster._core.scheduler.instigation import InstigatorType

    n = len(ids)
    total, per = run_counts(instance, ids)
    state = next(
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.name == SENSOR
    )
    ticks = sorted(
        instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1000),
        key=lambda t: t.timestamp,
    )
    print("intake ticks (status, runs, seconds):")
    for t in ticks:
        took = (t.end_timestamp - t.timestamp) if t.end_timestamp else float("nan")
        print(f"  {t.status.value:8s} {len(t.run_ids):5d} runs  {took:7.2f} s")
    with_runs = [t for t in ticks if t.run_ids and t.end_timestamp]
    if with_runs:
        per_run = [(t.end_timestamp - t.timestamp) / len(t.run_ids) for t in with_runs]
        print(f"tick seconds per run: median {statistics.median(per_run) * 1000:.1f} ms")

    req, ev = Base.metadata.tables["execution_requests"], Base.metadata.tables["events"]
    with engine.connect() as conn:
        status = Counter(
            r.status for r in conn.execute(select(req.c.status).where(req.c.id.in_(ids)))
        )
        recorded = conn.execute(
            select(func.count()).where(req.c.id.in_(ids), req.c.dagster_run_id.is_not(None))
        ).scalar()
        claims = conn.execute(
            select(func.count()).where(ev.c.topic == "request.claimed", ev.c.request_id.in_(ids))
        ).scalar()
    doubled = sum(1 for c in per.values() if c > 1)
    lost = n - len(per)
    keys = Counter(
        r.tags.get("dagster/run_key")
        for r in instance.get_runs(filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR}))
    )
    queued = instance.get_runs_count(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))
    if done_at is None:
        print(f"NOT DONE: {total} of {n} requests have runs after {timeout:.0f} s")
    else:
        print(f"{n} requests -> {total} runs in {done_at:.1f} s ({n / done_at:.1f} runs/s)")
    print(
        f"checks: lost {lost}, doubled {doubled}, run keys repeated "
        f"{sum(1 for c in keys.values() if c > 1)}, queued runs {queued}, "
        f"request.claimed events {claims} (want {n}), run ids recorded {recorded}, "
        f"request statuses {dict(status)}"
    )
    ok = done_at is not None and lost == 0 and doubled == 0 and claims == n
    print("RESULT:", "ok" if ok else "FAILED", f"{done_at:.1f} s" if done_at else "")


if __name__ == "__main__":
    main()
