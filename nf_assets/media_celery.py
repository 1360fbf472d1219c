"""Chapter media work on Celery workers: a `concurrent.futures.Executor` the recorder fans chapters
out to, as it does to the local process pool, but whose work runs on every machine that has a
media worker listening on NF_MEDIA_QUEUE.

    celery -A nf_assets.media_worker worker -Q nf-media --prefetch-multiplier=1 -c 2

Payloads are the picklable MediaJob / ComposeJob (their StoreSpec names the artifact store; each
worker reads its credentials from its own settings), so tasks and results use the pickle
serializer: the broker must be as trusted as the code, and a worker runs only the functions in
TASKS. A single thread of the executor sends every task and polls every result: Celery's result
backends tie replies to the thread that sent the task (rpc://) and are not safe to wait on from
many threads.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import queue
import socket
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from shared.config import Settings, get_settings
from shared.errors import NFError

if TYPE_CHECKING:
    from celery import Celery

TASK = "nf.media.run"
# what a worker may run: module:function of the media executors
TASKS = frozenset(
    {
        "nf_assets.executors:render_chapter_media",
        "nf_assets.executors:compose_chapter_video",
    }
)
POLL_SECONDS = 0.05
IDLE_SECONDS = 2.0


def make_app(settings: Settings) -> Celery:
    """The media workers' Celery app (celery is in the `distributed` extra)."""
    try:
        from celery import Celery
    except ImportError as exc:
        raise NFError(
            "NF-ORCH-005", "NF_MEDIA_EXECUTOR=celery needs celery: pip install -e '.[distributed]'"
        ) from exc

    app = Celery("nf-media", broker=settings.celery_broker_url, backend=settings.celery_backend_url)
    app.conf.update(
        task_serializer="pickle",
        result_serializer="pickle",
        accept_content=["pickle"],
        result_accept_content=["pickle"],
        task_default_queue=settings.media_queue,
        worker_prefetch_multiplier=1,  # a long chapter does not hold others back on one worker
        task_acks_late=True,  # a worker that dies mid-chapter leaves the task for another
        task_reject_on_worker_lost=True,
        result_expires=3600,
        broker_connection_retry_on_startup=True,
    )
    app.task(name=TASK)(run_media_task)
    return app


def run_media_task(target: str, payload: Any) -> tuple[str, Any]:
    """Run one allowed executor function; returns (worker host:pid, its Outcome)."""
    if target not in TASKS:
        raise NFError("NF-ORCH-005", f"media task {target!r} is not an nf media executor")
    module, name = target.split(":")
    fn = getattr(importlib.import_module(module), name)
    return f"{socket.gethostname()}:{os.getpid()}", fn(payload)


@lru_cache(maxsize=1)
def _app() -> Celery:
    return make_app(get_settings())


class CeleryMediaExecutor(Executor):
    """Futures backed by Celery tasks on the media queue; `workers` names who ran them."""

    def __init__(self, celery_app: Celery | None = None, queue_name: str | None = None) -> None:
        self.app = celery_app or _app()
        self.queue = queue_name or get_settings().media_queue
        self.workers: set[str] = set()
        self._inbox: queue.Queue = queue.Queue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, fn, /, *args, **kwargs) -> Future:
        target = f"{fn.__module__}:{fn.__name__}"
        if target not in TASKS or kwargs or len(args) != 1:
            raise NFError("NF-ORCH-005", f"{target} cannot run on the media workers")
        if self._closed:
            raise RuntimeError("cannot submit after shutdown")
        future: Future = Future()
        with self._lock:
            self._inbox.put((target, args[0], future))
            if self._thread is None or not self._thread.is_alive():
                # the sender/poller thread ends when idle, so a step's executor leaves nothing
                self._thread = threading.Thread(target=self._loop, name="nf-media", daemon=True)
                self._thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        self._inbox.put(None)
        thread = self._thread
        if wait and thread is not None:
            thread.join()

    def _loop(self) -> None:
        running: list[tuple[Any, Future]] = []
        stop = False
        while not (stop and not running):
            try:
                item = self._inbox.get(timeout=POLL_SECONDS if running else IDLE_SECONDS)
            except queue.Empty:
                with self._lock:  # idle: end, unless a submit came in meanwhile
                    if not running and self._inbox.empty():
                        self._thread = None
                        return
                item = ...
            if item is None:
                stop = True
            elif item is not ...:
                target, payload, future = item
                if future.set_running_or_notify_cancel():
                    try:
                        result = self.app.send_task(TASK, args=(target, payload), queue=self.queue)
                    except Exception as exc:  # noqa: BLE001 - broker unreachable: the chapter fails
                        future.set_exception(NFError("NF-ORCH-005", f"cannot send: {exc}"))
                    else:
                        running.append((result, future))
            still = []
            for result, future in running:
                if future.cancelled():
                    result.revoke()
                elif result.ready():
                    try:
                        worker, outcome = result.get(propagate=True, disable_sync_subtasks=False)
                    except BaseException as exc:  # noqa: BLE001 - the task's own error, re-raised
                        future.set_exception(exc)
                    else:
                        self.workers.add(worker)
                        future.set_result(outcome)
                    result.forget()
                else:
                    still.append((result, future))
            running = still
            if running and self._inbox.empty():
                time.sleep(POLL_SECONDS)


@lru_cache(maxsize=1)
def _thread_pool() -> ThreadPoolExecutor:
    settings = get_settings()
    return ThreadPoolExecutor(settings.media_workers or os.cpu_count() or 2, "nf-media")


def media_executor() -> Executor:
    """Where chapter media work runs (NF_MEDIA_EXECUTOR): this machine's process pool, or a fresh
    Celery-backed executor per step (so its `workers` are that step's).

    A Celery prefork worker runs tasks in daemonic processes, which may not start a process
    pool; there `process` means threads (the heavy work is ffmpeg and espeak subprocesses, and
    PIL releases the GIL while it draws). bench/bench_distributed.py measures both."""
    if get_settings().media_executor == "celery":
        return CeleryMediaExecutor()
    if multiprocessing.current_process().daemon:
        return _thread_pool()
    from nf_assets.runtime import media_pool

    return media_pool()


def workers_of(executor: Executor) -> str:
    """Who ran a step's chapters, for its metadata: Celery workers as host:pid, else the pool."""
    if isinstance(executor, CeleryMediaExecutor):
        return ", ".join(sorted(executor.workers)) or "none"
    kind = "thread pool" if isinstance(executor, ThreadPoolExecutor) else "process pool"
    return f"{socket.gethostname()}:{os.getpid()} {kind}"
