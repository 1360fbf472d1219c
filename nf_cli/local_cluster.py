"""The distributed deployment on one machine, for tests, benchmarks and a first trial: an S3
endpoint (moto_server) on 127.0.0.1, a dagster-celery step worker and a Celery media worker, each
in its own process group so one call ends it with its children. Production runs MinIO/S3 and the
workers as services (docs/runbooks/distributed-execution.md)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from shared.config import REPO_ROOT

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(
    check: Callable[[], bool],
    what: str,
    timeout: float = 30.0,
    proc: subprocess.Popen | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def stop(proc: subprocess.Popen) -> None:
    """End a process started here and every process of its group (a worker's pool children)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


def _spawn(cmd: list[str], log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=dict(env if env is not None else os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_moto(log: Path) -> tuple[subprocess.Popen, str]:
    """moto_server on a free 127.0.0.1 port; returns (process, endpoint URL)."""
    port = free_port()
    proc = _spawn([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], log)
    try:
        wait_for(lambda: port_open("127.0.0.1", port), "moto_server", proc=proc)
    except Exception:
        stop(proc)
        raise
    return proc, f"http://127.0.0.1:{port}"


def worker_env(env: Mapping[str, str]) -> dict[str, str]:
    out = {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}"}
    if os.geteuid() == 0:
        # Celery refuses a root worker that accepts pickle (the media tasks' payloads): tests
        # and CI run as root here. Deployments run workers as an unprivileged user.
        out["C_FORCE_ROOT"] = "1"
    return out


def start_step_worker(
    env: Mapping[str, str], queue: str, name: str, workdir: Path, concurrency: int = 2
) -> subprocess.Popen:
    """`dagster-celery worker start` with deploy/celery/celery.yaml, on `queue`."""
    config = yaml.safe_load((REPO_ROOT / "deploy/celery/celery.yaml").read_text())
    config["execution"]["config"]["config_source"]["task_default_queue"] = queue
    path = workdir / f"celery-{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    cmd = [
        str(BIN / "dagster-celery"),
        "worker",
        "start",
        "-A",
        "dagster_celery.app",
        "-y",
        str(path),
        "-q",
        queue,
        "-n",
        name,
        "--",
        f"--concurrency={concurrency}",
    ]
    return _spawn(cmd, workdir / f"{name}.log", worker_env(env))


def start_media_worker(
    env: Mapping[str, str], queue: str, name: str, workdir: Path, concurrency: int = 2
) -> subprocess.Popen:
    cmd = [
        str(BIN / "celery"),
        "-A",
        "nf_assets.media_worker",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{name}@%h",
        f"--concurrency={concurrency}",
        "--prefetch-multiplier=1",
        "--loglevel=INFO",
    ]
    return _spawn(cmd, workdir / f"{name}.log", worker_env(env))


def wait_ready(proc: subprocess.Popen, log: Path, what: str, timeout: float = 120.0) -> None:
    """A Celery worker logs 'ready.' once it consumes from its queues."""
    wait_for(lambda: b"ready." in log.read_bytes(), what, timeout, proc)


def delete_queues(broker: str, names: list[str]) -> None:
    """Remove a run's queues from the broker (they outlive their workers)."""
    from kombu import Connection

    with Connection(broker) as conn:
        channel = conn.default_channel
        for name in names:
            try:
                channel.queue_delete(name)
            except Exception:  # noqa: BLE001 - never declared: nothing to delete
                channel = conn.channel()
