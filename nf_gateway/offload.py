"""Expensive upload validation off the gateway process.

Admitting a novel (SKILL_01 decode, SKILL_02 chapter split, checks) is pure CPU: a 19 MB file
with 715k headings took 35 s and 1 GB in the request thread, and holding the GIL that long slowed
every other request (the event loop included). Uploads above OFFLOAD_MIN_BYTES are admitted in a
separate process instead: one at a time (a bound on CPU and memory), a fresh process per file
(its memory is returned when it ends), and at most ADMIT_TIMEOUT seconds (NF-INPUT-011
afterwards: the text would be too expensive to split). Small uploads stay in the thread pool,
where they cost less than starting a process.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import threading

from nf_services import admission
from shared.errors import NFError

OFFLOAD_MIN_BYTES = 1024 * 1024
ADMIT_TIMEOUT = 120.0
_lock = threading.Lock()  # one admission process at a time


def admit(data: bytes, limit: int | None = None) -> admission.Admission:
    if len(data) < OFFLOAD_MIN_BYTES:
        return admission.admit(data, limit)
    admission.check_size(len(data), limit)
    with _lock:
        pool = cf.ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )
        try:
            future = pool.submit(admission.admit, data, limit)
            try:
                return future.result(timeout=ADMIT_TIMEOUT)
            except cf.TimeoutError:
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.kill()
                raise NFError(
                    "NF-INPUT-011",
                    f"splitting the text took longer than {ADMIT_TIMEOUT:.0f} s; "
                    "check its chapter headings",
                ) from None
            except cf.process.BrokenProcessPool:
                raise NFError(
                    "NF-INPUT-011", "the text could not be split within the memory available"
                ) from None
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
