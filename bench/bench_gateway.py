"""Gateway write-path benchmark: execution requests submitted over HTTP on 127.0.0.1 at a target
rate, against a bare INSERT of the same row; prints submissions/s, p50/p99 latency and ratios.

    .venv/bin/python bench/bench_gateway.py [--rate 200] [--seconds 10] [--workers 1]

- The gateway runs as its own process (uvicorn, `--workers` processes) so the load generator does
  not share its interpreter; the load is open-loop: request i is sent at t0 + i/rate whatever
  happened to earlier ones, so a gateway slower than the rate shows up as growing latency (no
  coordinated omission). Every submission has its own Idempotency-Key and passes the whole path:
  token check, role check, row-level-security scope, idempotent INSERT, outbox event.
- The baseline inserts the same row (same columns, its own transaction each) with SQLAlchemy on
  one connection, back to back: what the database alone costs.
- A scratch database is created on the configured server (NF_DATABASE_URL or the embedded one),
  migrated, and dropped afterwards. All traffic stays on 127.0.0.1; the run is bounded by
  --seconds and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


def scratch_database() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shared.db import database_url

    base = make_url(database_url())
    name = f"nf_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from shared.db import get_engine

    get_engine.cache_clear()
    u = make_url(url)
    admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(url: str, artifacts: Path, port: int, workers: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "NF_DATABASE_URL": url,
        "NF_ARTIFACT_ROOT": str(artifacts),
        "NF_GATEWAY_SECRET": "bench-secret",
        # The per-tenant quota (1200/min by default) would refuse a 200/s load after 6 s: the
        # bench measures the write path, not the quota (its check still runs per request).
        "NF_TENANT_SUBMITS_PER_MINUTE": os.environ.get("NF_TENANT_SUBMITS_PER_MINUTE", "1000000"),
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nf_gateway.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the gateway did not come up")


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client over asyncio streams: a Python HTTP library costs
    several times the gateway's own CPU per request on a 2-core machine, and the load generator
    must not be what is measured. It speaks just what the gateway answers (Content-Length
    bodies)."""

    def __init__(self, host: str, port: int, connections: int) -> None:
        self.host, self.port, self.size = host, port, connections
        self.pool: asyncio.Queue = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(self.size):
            self.pool.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self.pool.empty():
            _, writer = self.pool.get_nowait()
            writer.close()

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        reader, writer = await self.pool.get()
        try:
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                + f"Content-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode() + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            data = await reader.readexactly(length)
            return int(status_line.split()[1]), data
        finally:
            self.pool.put_nowait((reader, writer))


async def open_loop(
    port: int, headers: dict, path: str, novel: str, rate: float, seconds: float, connections: int
) -> tuple[list[float], list[int], float]:
    n = int(rate * seconds)
    latencies: list[float] = [0.0] * n
    statuses: list[int] = [0] * n
    body = json.dumps({"novel": novel}).encode()
    client = RawHttp("127.0.0.1", port, connections)
    await client.open()
    try:
        # Warm every connection and the server's code paths (not measured).
        await asyncio.gather(*(client.request("GET", "/healthz", {}) for _ in range(connections)))

        async def one(i: int, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            statuses[i], _ = await client.request(
                "POST",
                path,
                {**headers, "Content-Type": "application/json", "Idempotency-Key": f"bench-{i}"},
                body,
            )
            # From the scheduled send time: a late loop or a wait for a free connection counts.
            latencies[i] = time.perf_counter() - at

        t0 = time.perf_counter() + 0.2
        await asyncio.gather(*(one(i, t0 + i / rate) for i in range(n)))
        elapsed = time.perf_counter() - t0
    finally:
        await client.close()
    return latencies, statuses, elapsed


def bare_inserts(
    url: str, tenant: str, project: str, partition_key: str, novel_id, n: int
) -> tuple[list[float], float]:
    from sqlalchemy import insert

    from nf_services.submissions import request_hash
    from shared.db import get_engine
    from shared.models import Base

    table = Base.metadata.tables["execution_requests"]
    engine = get_engine(url)
    body_hash = request_hash(partition_key, {})
    latencies = []
    with engine.connect() as conn:
        t0 = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            with conn.begin():
                conn.execute(
                    insert(table).values(
                        id=uuid.uuid4(),
                        tenant_id=tenant,
                        project_id=project,
                        trace_id=uuid.uuid4().hex,
                        idempotency_key=f"bare-{i}",
                        request_hash=body_hash,
                        novel_id=novel_id,
                        partition_key=partition_key,
                        status="pending",
                        stage="submitted",
                        params={},
                    )
                )
            latencies.append(time.perf_counter() - t)
        elapsed = time.perf_counter() - t0
    return latencies, elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=200.0, help="target submissions per second")
    p.add_argument("--seconds", type=float, default=10.0, help="length of the measured load")
    p.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    p.add_argument("--connections", type=int, default=64, help="client keep-alive connections")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    if args.rate <= 0 or not 0 < args.seconds <= 120:
        p.error("--rate must be > 0 and --seconds in (0, 120]")

    import tempfile

    import httpx
    from sqlalchemy import select

    from migrations import runner
    from nf_gateway import service
    from nf_gateway.principal import system_operator
    from nf_gateway.testing import PASSWORD, TWO_CHAPTERS, seed_cast
    from shared.db import get_engine
    from shared.models import Base
    from shared.storage import LocalArtifactStore

    url = scratch_database()
    proc = None
    try:
        runner.upgrade(url, "head")
        engine = get_engine(url)
        cast = seed_cast(engine)
        with tempfile.TemporaryDirectory() as tmp:
            novel = service.upload_novel(
                engine,
                LocalArtifactStore(tmp),
                system_operator(),
                tenant_id=cast.a,
                project_id=cast.project,
                data=TWO_CHAPTERS,
                trace_id=uuid.uuid4().hex,
                slug="bench",
            )
            port = free_port()
            proc = start_gateway(url, Path(tmp), port, args.workers)
            base = f"http://127.0.0.1:{port}"
            login = httpx.post(
                f"{base}/v1/auth/login", json={"email": cast.email("editor"), "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            path = f"/v1/projects/{cast.a}/{cast.project}/requests"
            lat, statuses, elapsed = asyncio.run(
                open_loop(port, headers, path, "bench", args.rate, args.seconds, args.connections)
            )
        ok = sum(1 for s in statuses if s == 202)
        req = Base.metadata.tables["execution_requests"]
        with engine.connect() as conn:
            rows = len(
                conn.execute(select(req.c.id).where(req.c.idempotency_key.like("%bench-%"))).all()
            )
        bare_lat, bare_elapsed = bare_inserts(
            url, cast.a, cast.project, novel["partition_key"], novel["id"], len(lat)
        )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop_database(url)

    ms = 1000.0
    figures = {
        "target_rate": args.rate,
        "seconds": args.seconds,
        "gateway_workers": args.workers,
        "submissions": len(lat),
        "accepted_202": ok,
        "rows_written": rows,
        "gateway_throughput_per_s": round(ok / elapsed, 1),
        "gateway_p50_ms": round(percentile(lat, 50) * ms, 2),
        "gateway_p99_ms": round(percentile(lat, 99) * ms, 2),
        "gateway_mean_ms": round(statistics.fmean(lat) * ms, 2),
        "bare_insert_throughput_per_s": round(len(bare_lat) / bare_elapsed, 1),
        "bare_insert_p50_ms": round(percentile(bare_lat, 50) * ms, 3),
        "bare_insert_p99_ms": round(percentile(bare_lat, 99) * ms, 3),
    }
    figures["p50_ratio_gateway_over_bare"] = round(
        figures["gateway_p50_ms"] / figures["bare_insert_p50_ms"], 1
    )
    figures["p99_ratio_gateway_over_bare"] = round(
        figures["gateway_p99_ms"] / figures["bare_insert_p99_ms"], 1
    )
    print(
        f"gateway  : {figures['accepted_202']}/{figures['submissions']} accepted at target "
        f"{args.rate:g}/s -> {figures['gateway_throughput_per_s']}/s, "
        f"p50 {figures['gateway_p50_ms']} ms, p99 {figures['gateway_p99_ms']} ms "
        f"({args.workers} worker{'s' if args.workers > 1 else ''}); rows {rows}"
    )
    print(
        f"bare SQL : {figures['bare_insert_throughput_per_s']}/s back to back, "
        f"p50 {figures['bare_insert_p50_ms']} ms, p99 {figures['bare_insert_p99_ms']} ms"
    )
    print(
        f"ratio    : p50 x{figures['p50_ratio_gateway_over_bare']}, "
        f"p99 x{figures['p99_ratio_gateway_over_bare']} (gateway / bare insert)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if ok == len(lat) == rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
