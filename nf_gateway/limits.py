"""Abuse limits of the gateway: login throttling and the bound on concurrent password hashing.

Login throttling (NF-AUTH-005, 429 with Retry-After), in this process's memory:

- per account (the lower-cased e-mail, known or not, so an unknown address is throttled like a
  known one): `login_max_failures_per_account` failures within `login_failure_window_seconds`
  lock further attempts until the oldest failure leaves the window;
- per client address: `login_max_failures_per_client` failures in the same window.

A throttled attempt is refused before its password is hashed, so it costs nothing; a success
clears the account's failures (not the client's). scrypt (tens of ms of CPU, 16 MiB) runs in at
most `login_concurrency` threads; up to `login_queue_max` more logins wait (without holding a
thread), the rest get NF-AUTH-005 with Retry-After: 1. So a password-guessing flood cannot take
every worker thread and every core away from other requests.

With several gateway processes each keeps its own counters: the limits hold per process (put a
shared limiter in front, or run one process per address, when that matters).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from shared.errors import NFError


def _retry_error(message: str, retry_after: float) -> NFError:
    return NFError("NF-AUTH-005", message, retry_after=max(1, math.ceil(retry_after)))


@dataclass
class LoginThrottle:
    max_per_account: int
    max_per_client: int
    window: float
    concurrency: int = 1
    queue_max: int = 16
    clock: Callable[[], float] = time.monotonic
    _fails: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: asyncio.Semaphore | None = None
    _waiting: int = 0

    # -- failure counting ------------------------------------------------------------------
    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            self._fails.pop(key, None)
        return q

    def check(self, account: str, client: str) -> None:
        """NF-AUTH-005 if the account or the client is locked out right now."""
        now = self.clock()
        with self._lock:
            for key, limit, what in (
                (f"a:{account}", self.max_per_account, "this account"),
                (f"c:{client}", self.max_per_client, "your address"),
            ):
                q = self._recent(key, now)
                if len(q) >= limit:
                    wait = q[len(q) - limit] + self.window - now
                    raise _retry_error(
                        f"too many failed sign-ins for {what}; retry in {math.ceil(wait)} s", wait
                    )
            if len(self._fails) > 100_000:  # bound memory under a spray of addresses
                for k in [k for k, q in self._fails.items() if not q or q[-1] <= now - self.window]:
                    del self._fails[k]

    def failed(self, account: str, client: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"a:{account}", f"c:{client}"):
                self._fails.setdefault(key, deque()).append(now)

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._fails.pop(f"a:{account}", None)

    # -- hashing slots -----------------------------------------------------------------------
    @asynccontextmanager
    async def hashing(self) -> AsyncIterator[None]:
        """Hold one of the `concurrency` hashing slots; NF-AUTH-005 when the queue is full."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        if self._slots.locked() and self._waiting >= self.queue_max:
            raise _retry_error("the sign-in service is busy; retry in a second", 1)
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


def from_settings() -> LoginThrottle:
    from shared.config import get_settings

    s = get_settings()
    return LoginThrottle(
        max_per_account=s.login_max_failures_per_account,
        max_per_client=s.login_max_failures_per_client,
        window=float(s.login_failure_window_seconds),
        concurrency=s.login_concurrency,
        queue_max=s.login_queue_max,
    )


class TenantQuota:
    """Submissions per tenant per minute (NF-TENANCY-004, 429 + Retry-After), per process:
    a sliding one-minute window of submission times."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, tenant_id: str) -> None:
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(tenant_id, deque())
            while q and q[0] <= now - 60:
                q.popleft()
            if len(q) >= self.per_minute:
                wait = q[0] + 60 - now
                raise NFError(
                    "NF-TENANCY-004",
                    f"tenant {tenant_id} submitted {self.per_minute} requests in the last "
                    f"minute; retry in {math.ceil(wait)} s",
                    retry_after=max(1, math.ceil(wait)),
                )
            q.append(now)
