"""Retry policy per error class: exponential backoff with full jitter for retryable codes,
fail fast for the rest. docs/architecture/queue-topics-and-retry-policy.md is generated from
`POLICIES`."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from shared.errors import REGISTRY, UNCLASSIFIED, ErrorDomain, NFError, classify

T = TypeVar("T")
_log = logging.getLogger("nf.db")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_delay: float  # seconds before the 2nd attempt (before jitter)
    max_delay: float
    multiplier: float = 2.0
    floor: float = 0.0  # share of the backoff always waited (0 = full jitter, 0.5 = equal)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Jittered backoff before attempt `attempt + 1` (attempt counts from 1)."""
        cap = min(self.max_delay, self.base_delay * self.multiplier ** (attempt - 1))
        return (rng or random).uniform(cap * self.floor, cap)


NO_RETRY = RetryPolicy(max_attempts=1, base_delay=0, max_delay=0)

# Retryable domains and how hard to try; a non-retryable code always gets NO_RETRY.
POLICIES: dict[ErrorDomain, RetryPolicy] = {
    ErrorDomain.PROVIDER: RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0),
    # equal jitter: the retries always span >= 9 s, enough to ride out a database restart
    ErrorDomain.DB: RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=4.0, floor=0.5),
    ErrorDomain.STORAGE: RetryPolicy(max_attempts=3, base_delay=0.2, max_delay=2.0),
    ErrorDomain.ORCH: RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=10.0),
}


def policy_for(code: str) -> RetryPolicy:
    err = REGISTRY[code]
    return POLICIES.get(err.domain, NO_RETRY) if err.retryable else NO_RETRY


def call_with_retry(
    fn: Callable[[], T],
    *,
    on_retry: Callable[[int, NFError, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    scale: float = 1.0,
) -> T:
    """Call `fn`; on a retryable NFError wait and try again up to the code's policy.

    `on_retry(attempt, error, delay)` is told before every wait (to write `run.retried`/job
    events). A `retry_after` in the error's context (HTTP Retry-After) is honoured as a floor.
    `scale` shrinks delays (tests, benchmarks).
    """
    attempt = 1
    while True:
        try:
            return fn()
        except NFError as exc:
            policy = policy_for(exc.code)
            if attempt >= policy.max_attempts:
                raise
            delay = policy.delay(attempt) * scale
            retry_after = exc.context.get("retry_after")
            if isinstance(retry_after, int | float):
                delay = max(delay, float(retry_after) * scale)
            if on_retry:
                on_retry(attempt, exc, delay)
            sleep(delay)
            attempt += 1


def call_db(fn: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep) -> T:
    """`fn()` (one transaction) with transient database errors - a dropped connection, a restart,
    a lock timeout - classified as NF-DB-001/003 and retried under the DB policy; other errors
    pass through unchanged."""

    def attempt() -> T:
        try:
            return fn()
        except NFError:
            raise
        except Exception as exc:
            err = classify(exc)
            if err.code == UNCLASSIFIED:
                raise
            raise err from exc

    def log(n: int, exc: NFError, delay: float) -> None:
        _log.warning("%s on attempt %d; retrying in %.1fs: %s", exc.code, n, delay, exc.detail)

    return call_with_retry(attempt, on_retry=log, sleep=sleep)
