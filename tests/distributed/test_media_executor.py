"""Where chapter media work runs: the allow-list of what a media worker may execute, and the
fallback inside a Celery prefork worker (a daemonic process may not start a process pool)."""

from __future__ import annotations

import multiprocessing

import pytest

from shared.errors import NFError


def _in_daemon(out) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from nf_assets.media_celery import media_executor, workers_of

    pool = media_executor()
    out.put(
        (isinstance(pool, ThreadPoolExecutor), pool.submit(sum, [1, 2]).result(), workers_of(pool))
    )


def test_a_daemonic_process_gets_threads_not_a_process_pool(monkeypatch):
    monkeypatch.setenv("NF_MEDIA_EXECUTOR", "process")
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_in_daemon, args=(out,), daemon=True)
    proc.start()
    threads, result, who = out.get(timeout=120)
    proc.join(30)
    assert threads and result == 3 and who.endswith("thread pool")


def test_only_the_media_executors_go_to_the_workers():
    pytest.importorskip("celery", reason="the 'distributed' extra is not installed")
    from nf_assets.executors import render_chapter_media
    from nf_assets.media_celery import CeleryMediaExecutor, run_media_task

    executor = CeleryMediaExecutor(celery_app=object(), queue_name="unused")  # never sends
    with pytest.raises(NFError) as err:
        executor.submit(print, "x")
    assert err.value.code == "NF-ORCH-005"
    with pytest.raises(NFError) as err:
        executor.submit(render_chapter_media, "job", extra=1)
    assert err.value.code == "NF-ORCH-005"
    with pytest.raises(NFError) as err:  # a message naming anything else is refused by the worker
        run_media_task("os:system", "echo pwned")
    assert err.value.code == "NF-ORCH-005"
