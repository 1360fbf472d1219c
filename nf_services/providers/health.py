"""Provider health: a circuit breaker per provider and a per-run bound on time lost to failures.

Circuit breaker (per process, keyed by capability + base URL + model): after
`failure_threshold` consecutive unavailability failures (connection errors, 5xx, timeouts/408:
NF-PROVIDER-002/003) it opens, and every call fails at once with NF-PROVIDER-007 (not retryable,
so the retry loop stops and the fallback chain moves on). After the cool-down one trial call is
let through (half-open): success closes the breaker, failure opens it again with the cool-down
doubled (up to `max_cooldown_seconds`). Any other answer from the server (2xx, 4xx, 429) proves
it reachable and counts as a success.

Run deadline: the time failed calls and retry waits cost within one run is bounded by
`run_deadline_seconds`; once spent, calls fail at once with NF-PROVIDER-008, so the remaining
items go straight to their fallback (recorded as degradations). Only time lost counts: a long
run on a healthy provider is never cut short. Calls are also given at most the remaining budget
as their timeout.

Both live in process memory. Media work runs in a process pool (nf_assets.runtime.media_pool,
forkserver workers that outlive runs), so every worker keeps its own breakers and budgets: with
W workers a dead provider costs at most W x threshold failed calls before all breakers are open,
and at most W x the run deadline. That bound is small and known; sharing the state through the
database would put a round trip in front of every provider call.

`guarded(policy)` makes a policy (and the run's budget) current for the calls below it; the HTTP
client (http_openai.OpenAIHTTPClient.post) consults `active()` around every request.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from nf_services.providers.base import Usage
from shared.errors import NFError

BREAKER_OPEN = "NF-PROVIDER-007"
DEADLINE_SPENT = "NF-PROVIDER-008"
# The server is unavailable: these count against the breaker.
UNAVAILABLE = frozenset({"NF-PROVIDER-002", "NF-PROVIDER-003"})
# The call was never made.
SKIPPED = frozenset({BREAKER_OPEN, DEADLINE_SPENT})
CAPABILITY_UNITS = {
    "chat": "tokens",
    "image": "images",
    "speech": "audio_seconds",
    "embedding": "texts",
}
MIN_TIMEOUT = 0.5  # a call squeezed by the run deadline still gets this long
_MAX_RUNS = 64  # run budgets kept per process (workers outlive runs)


@dataclass(frozen=True)
class HealthPolicy:
    """Thresholds for breakers and the run deadline; picklable, so it travels with the work."""

    failure_threshold: int = 5
    cooldown_seconds: float = 30.0
    max_cooldown_seconds: float = 300.0
    run_deadline_seconds: float = 600.0  # <= 0: unbounded
    run_key: str | None = None  # the run whose budget calls are charged to (None: this scope)

    @classmethod
    def from_settings(cls, run_key: str | None = None) -> HealthPolicy:
        from shared.config import get_settings

        s = get_settings()
        return cls(
            failure_threshold=s.provider_breaker_failures,
            cooldown_seconds=s.provider_breaker_cooldown_seconds,
            max_cooldown_seconds=s.provider_breaker_max_cooldown_seconds,
            run_deadline_seconds=s.provider_run_deadline_seconds,
            run_key=run_key,
        )


class CircuitBreaker:
    """closed -> (threshold consecutive failures) -> open -> (cool-down) -> half-open (one trial)
    -> closed on success / open again, with a doubled cool-down, on failure."""

    def __init__(self, key: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.key = key
        self.state = "closed"
        self.failures = 0  # consecutive unavailability failures
        self.trips = 0  # opens since the last success: the cool-down doubles with each
        self.cooldown = 0.0
        self._opened_at = 0.0
        self._trial = False  # the half-open trial call is in flight
        self._clock = clock
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.key!r}, {self.state}, failures={self.failures})"

    def admit(self, policy: HealthPolicy) -> None:
        """Return if a call may go out; raise NF-PROVIDER-007 if not."""
        with self._lock:
            if self.state == "closed":
                return
            now = self._clock()
            if self.state == "open" and now - self._opened_at >= self.cooldown:
                self.state, self._trial = "half_open", False
            if self.state == "half_open" and not self._trial:
                self._trial = True
                return
            wait = max(0.0, self._opened_at + self.cooldown - now)
        raise NFError(
            BREAKER_OPEN,
            f"{self.key}: circuit open after {self.failures} consecutive failures "
            f"(next trial in {wait:.1f}s)",
            breaker=self.key,
            retry_in=round(wait, 3),
        )

    def success(self) -> None:
        with self._lock:
            self.state, self.failures, self.trips, self._trial = "closed", 0, 0, False

    def failure(self, policy: HealthPolicy) -> None:
        with self._lock:
            self.failures += 1
            if self.state == "open":  # a call that was already in flight when it opened
                return
            if self.state == "half_open" or self.failures >= policy.failure_threshold:
                self.trips += 1
                self.cooldown = min(
                    policy.max_cooldown_seconds,
                    policy.cooldown_seconds * 2 ** (self.trips - 1),
                )
                self.state, self._opened_at, self._trial = "open", self._clock(), False


@dataclass
class RunBudget:
    """Seconds that failed calls and retry waits may still cost (thread-safe)."""

    seconds: float  # <= 0: unbounded
    spent: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def remaining(self) -> float:
        if self.seconds <= 0:
            return math.inf
        return max(0.0, self.seconds - self.spent)

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0

    def charge(self, seconds: float) -> None:
        with self._lock:
            self.spent += max(0.0, seconds)


_breakers: dict[str, CircuitBreaker] = {}
_budgets: OrderedDict[str, RunBudget] = OrderedDict()
_lock = threading.Lock()


def breaker_key(capability: str, base_url: str, model: str) -> str:
    return f"{capability}|{base_url}|{model}"


def breaker(key: str) -> CircuitBreaker:
    """The process's breaker for one provider key (created closed on first use)."""
    with _lock:
        breaker = _breakers.get(key)
        if breaker is None:
            breaker = _breakers[key] = CircuitBreaker(key)
        return breaker


def run_budget(run_key: str, seconds: float) -> RunBudget:
    """The process's budget for one run, kept for the last _MAX_RUNS runs."""
    with _lock:
        budget = _budgets.get(run_key)
        if budget is None:
            budget = _budgets[run_key] = RunBudget(seconds)
            while len(_budgets) > _MAX_RUNS:
                _budgets.popitem(last=False)
        else:
            _budgets.move_to_end(run_key)
            budget.seconds = seconds
        return budget


def reset() -> None:
    """Forget every breaker and budget of this process (tests): all start closed and unspent."""
    with _lock:
        _breakers.clear()
        _budgets.clear()


@dataclass
class Guard:
    """A policy and the budget it charges; what the HTTP client asks around each request."""

    policy: HealthPolicy
    budget: RunBudget

    def admit(self, breaker: CircuitBreaker | None) -> None:
        if self.budget.exhausted:
            raise NFError(
                DEADLINE_SPENT,
                f"the run's provider deadline ({self.budget.seconds:g}s of failed calls and "
                "retry waits) is spent",
                run=self.policy.run_key,
            )
        if breaker is not None:
            breaker.admit(self.policy)

    def timeout(self, configured: float) -> float:
        return min(configured, max(MIN_TIMEOUT, self.budget.remaining))

    def record(
        self, breaker: CircuitBreaker | None, error: BaseException | None, seconds: float
    ) -> None:
        """After a request: charge a failure's time, tell the breaker how the server did."""
        if error is not None:
            self.budget.charge(seconds)
        if breaker is None:
            return
        code = error.code if isinstance(error, NFError) else None
        if error is None or (code is not None and code not in UNAVAILABLE):
            breaker.success()  # the server answered
        else:
            breaker.failure(self.policy)

    def sleep(self, delay: float) -> None:
        """A retry wait charged to the budget; one that would outlast it ends the retries."""
        remaining = self.budget.remaining
        if delay >= remaining:
            self.budget.charge(remaining)
            raise NFError(
                DEADLINE_SPENT,
                f"a {delay:.1f}s retry wait would outlast the run's provider deadline",
                run=self.policy.run_key,
            )
        self.budget.charge(delay)
        time.sleep(delay)


_active: ContextVar[Guard | None] = ContextVar("nf_provider_guard", default=None)


@contextmanager
def guarded(policy: HealthPolicy) -> Iterator[Guard]:
    """Make `policy` current for the provider calls in this block (and this context)."""
    if policy.run_key is not None:
        budget = run_budget(policy.run_key, policy.run_deadline_seconds)
    else:
        budget = RunBudget(policy.run_deadline_seconds)
    guard = Guard(policy, budget)
    token = _active.set(guard)
    try:
        yield guard
    finally:
        _active.reset(token)


def active() -> Guard:
    """The current guard; outside `guarded`, the settings' thresholds and no deadline."""
    guard = _active.get()
    if guard is None:
        policy = HealthPolicy.from_settings()
        guard = Guard(policy, RunBudget(0.0))
    return guard


def failed_usage(provider: Any, capability: str, error: NFError) -> Usage:
    """The ledger row of a provider call that failed (or was skipped by the breaker/deadline)."""
    return Usage(
        provider=str(getattr(provider, "name", "unknown")),
        model=str(getattr(provider, "model", "") or ""),
        units=0.0,
        unit=CAPABILITY_UNITS.get(capability, "calls"),
        cost_usd=0.0,
        status="skipped" if error.code in SKIPPED else "failed",
        error_code=error.code,
    )


def is_temporary(degradation: dict) -> bool:
    """A degradation caused by the provider not delivering (down, timing out, refusing, breaker
    open, deadline spent) rather than by a gate judging what it made: worth retrying later."""
    return str(degradation.get("error_code") or "").startswith("NF-PROVIDER-")
