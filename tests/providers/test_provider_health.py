"""Circuit breaker, run deadline and timeouts from the environment, on a real HTTP server.

Providers are built by the registry (which attaches the process's breaker); each test gets
clean breakers and budgets (`health.reset`)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from nf_assets.executors import refine_image_prompts
from nf_services.providers import health
from nf_services.providers.health import CircuitBreaker, Guard, HealthPolicy, RunBudget
from nf_services.providers.registry import build_provider, select_provider, settings_config
from shared.errors import NFError
from shared.retry import call_with_retry
from tests.providers.fake_openai import FakeOpenAIServer

FAST = HealthPolicy(failure_threshold=3, cooldown_seconds=0.3, max_cooldown_seconds=1.0)


@pytest.fixture(autouse=True)
def _clean_health():
    health.reset()
    yield
    health.reset()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _raises(fn, code: str) -> NFError:
    with pytest.raises(NFError) as info:
        fn()
    assert info.value.code == code, info.value
    return info.value


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chat(base_url: str, **extra):
    return build_provider(
        "chat", {"kind": "openai", "base_url": base_url, "model": "m", "timeout": 5, **extra}
    )


# breaker state machine ------------------------------------------------------------------------
def test_breaker_opens_after_n_consecutive_failures_and_fails_fast():
    clock = Clock()
    b = CircuitBreaker("image|http://x|m", clock=clock)
    for _ in range(FAST.failure_threshold - 1):
        b.admit(FAST)
        b.failure(FAST)
    b.admit(FAST)
    b.success()  # a success resets the count
    for _ in range(FAST.failure_threshold):
        b.admit(FAST)
        b.failure(FAST)
    assert b.state == "open"
    err = _raises(lambda: b.admit(FAST), health.BREAKER_OPEN)
    assert not err.retryable and err.context["breaker"] == "image|http://x|m"


def test_breaker_half_open_lets_one_trial_through_then_closes_on_success():
    clock = Clock()
    b = CircuitBreaker("k", clock=clock)
    for _ in range(3):
        b.failure(FAST)
    clock.now += FAST.cooldown_seconds - 0.01
    _raises(lambda: b.admit(FAST), health.BREAKER_OPEN)  # still cooling down
    clock.now += 0.02
    b.admit(FAST)  # the trial
    assert b.state == "half_open"
    _raises(lambda: b.admit(FAST), health.BREAKER_OPEN)  # only one trial at a time
    b.success()
    assert (b.state, b.failures) == ("closed", 0)
    b.admit(FAST)


def test_failed_trial_reopens_with_a_doubled_cooldown_up_to_the_maximum():
    clock = Clock()
    b = CircuitBreaker("k", clock=clock)
    for _ in range(3):
        b.failure(FAST)
    cooldowns = [b.cooldown]
    for _ in range(4):
        clock.now += b.cooldown + 1e-6
        b.admit(FAST)
        b.failure(FAST)
        assert b.state == "open"
        cooldowns.append(b.cooldown)
    assert cooldowns == [0.3, 0.6, 1.0, 1.0, 1.0]


# breaker on the wire ---------------------------------------------------------------------------
def test_server_errors_open_the_breaker_and_later_calls_never_reach_the_server():
    with FakeOpenAIServer() as server, health.guarded(FAST):
        chat = _chat(server.url_for("500"))
        for _ in range(3):
            _raises(lambda: chat.chat("", "x"), "NF-PROVIDER-002")
        t0 = time.monotonic()
        _raises(lambda: chat.chat("", "x"), health.BREAKER_OPEN)
        assert time.monotonic() - t0 < 0.1 and len(server.requests) == 3
        # the same provider built again (another op, another skill) shares the breaker
        _raises(lambda: _chat(server.url_for("500")).chat("", "x"), health.BREAKER_OPEN)
        # ...but another model or server has its own
        _raises(lambda: _chat(server.url_for("500"), model="m2").chat("", "x"), "NF-PROVIDER-002")


def test_connection_refused_opens_the_breaker_and_recovery_closes_it():
    port = closed_port()
    with health.guarded(FAST):
        chat = _chat(f"http://127.0.0.1:{port}")
        for _ in range(3):
            _raises(lambda: chat.chat("", "x"), "NF-PROVIDER-002")
        _raises(lambda: chat.chat("", "x"), health.BREAKER_OPEN)
        with FakeOpenAIServer(port=port) as server:
            time.sleep(FAST.cooldown_seconds)
            assert chat.chat("", "hello").text.startswith("fake reply")  # half-open trial
            assert chat.chat("", "again").text.startswith("fake reply")  # closed
            assert len(server.requests) == 2
    assert chat.client.breaker.state == "closed"


def test_answers_that_prove_the_server_up_do_not_trip_the_breaker():
    with FakeOpenAIServer() as server, health.guarded(FAST):
        chat = _chat(server.base_url)
        server.push("400", "401", "429", "400", "429")
        for code in ("005", "005", "001", "005", "001"):
            _raises(lambda: chat.chat("", "x"), f"NF-PROVIDER-{code}")
        assert chat.client.breaker.state == "closed" and chat.chat("", "ok").text


def test_retries_stop_at_the_open_breaker():
    with FakeOpenAIServer() as server, health.guarded(FAST) as guard:
        chat = _chat(server.url_for("503"))
        # policy: 4 attempts; the breaker opens after 3 and the 4th is refused without a request
        _raises(
            lambda: call_with_retry(lambda: chat.chat("", "x"), sleep=guard.sleep, scale=0.001),
            health.BREAKER_OPEN,
        )
        assert len(server.requests) == 3


# run deadline ----------------------------------------------------------------------------------
def test_deadline_caps_the_timeout_then_refuses_calls():
    policy = HealthPolicy(run_deadline_seconds=1.0, run_key="run-a")
    with FakeOpenAIServer(delay=10) as server:
        chat = _chat(server.url_for("slow"), timeout=30)
        with health.guarded(policy):
            t0 = time.monotonic()
            _raises(lambda: chat.chat("", "x"), "NF-PROVIDER-003")  # cut to the 1 s left
            assert time.monotonic() - t0 < 3
        # the budget belongs to the run: a later scope of the same run finds it spent
        with health.guarded(policy):
            t0 = time.monotonic()
            err = _raises(lambda: chat.chat("", "x"), health.DEADLINE_SPENT)
            assert time.monotonic() - t0 < 0.1 and not err.retryable
        assert len(server.requests) == 1
        with health.guarded(HealthPolicy(run_deadline_seconds=1.0, run_key="run-b")):
            assert health.active().budget.spent == 0  # another run starts afresh


def test_retry_waits_count_against_the_deadline():
    guard = Guard(HealthPolicy(run_deadline_seconds=0.2), RunBudget(0.2))
    guard.sleep(0.05)
    assert guard.budget.spent == pytest.approx(0.05)
    _raises(lambda: guard.sleep(1.0), health.DEADLINE_SPENT)  # would outlast it: no wait
    assert guard.budget.exhausted
    _raises(lambda: guard.admit(None), health.DEADLINE_SPENT)


def test_successful_calls_do_not_spend_the_deadline():
    with FakeOpenAIServer() as server:
        chat = _chat(server.base_url)
        with health.guarded(HealthPolicy(run_deadline_seconds=0.5)) as guard:
            for _ in range(3):
                chat.chat("", "x")
            assert guard.budget.spent == 0


def test_zero_deadline_is_unbounded():
    assert RunBudget(0).remaining == float("inf") and not RunBudget(0).exhausted


def test_policy_comes_from_the_settings(monkeypatch):
    from shared.config import get_settings

    monkeypatch.setenv("NF_PROVIDER_BREAKER_FAILURES", "2")
    monkeypatch.setenv("NF_PROVIDER_RUN_DEADLINE_SECONDS", "42")
    get_settings.cache_clear()
    try:
        policy = HealthPolicy.from_settings(run_key="r")
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert (policy.failure_threshold, policy.run_deadline_seconds, policy.run_key) == (2, 42, "r")
    assert HealthPolicy.from_settings().failure_threshold == 5  # the default


# timeouts from configuration -------------------------------------------------------------------
def test_env_timeout_is_respected(tmp_path: Path):
    with FakeOpenAIServer(delay=10) as server:
        env = {
            "NF_IMAGE_PROVIDER": "openai",
            "NF_IMAGE_BASE_URL": server.url_for("slow"),
            "NF_IMAGE_MODEL": "img-1",
            "NF_IMAGE_TIMEOUT_SECONDS": "1",
        }
        defaults = settings_config(env)
        assert defaults["image"]["timeout_seconds"] == 1.0
        image = select_provider("image", {}, defaults=defaults, environ=env)
        t0 = time.monotonic()
        err = _raises(lambda: image.render("a cat", {}, tmp_path / "a.png"), "NF-PROVIDER-003")
        assert time.monotonic() - t0 < 3 and "timed out after 1s" in err.detail


def test_timeout_layers():
    env = {"NF_CHAT_TIMEOUT_SECONDS": "7", "NF_OPENAI_TIMEOUT_SECONDS": "9"}
    section = {"kind": "openai", "base_url": "http://x:1", "model": "m"}
    assert build_provider("chat", section, environ={}).client.timeout == 60
    # a provider chosen by project config without a timeout takes the environment's
    assert build_provider("chat", section, environ=env).client.timeout == 7
    assert build_provider("image", section, environ=env).client.timeout == 9
    assert (
        build_provider("chat", {**section, "timeout_seconds": 2}, environ=env).client.timeout == 2
    )
    assert build_provider("chat", {**section, "timeout": 3}, environ=env).client.timeout == 3
    for bad in (0, -1, "soon"):
        _raises(
            lambda b=bad: build_provider("chat", {**section, "timeout_seconds": b}),
            "NF-PROVIDER-006",
        )
    _raises(
        lambda: settings_config({"NF_CHAT_PROVIDER": "openai", "NF_CHAT_TIMEOUT_SECONDS": "x"}),
        "NF-PROVIDER-006",
    )
    # offline sections take no timeout, whatever the environment says
    assert settings_config({"NF_CHAT_PROVIDER": "offline", "NF_OPENAI_TIMEOUT_SECONDS": "5"}) == {
        "chat": {"kind": "offline"}
    }


# fallback chain: fail fast, every call in the ledger data ----------------------------------------
def _prompts(n: int):
    from nf_skills.contracts import CompiledPrompt

    return [
        CompiledPrompt(
            chapter_index=1,
            shot_index=i,
            kind="image",
            prompt=f"a quiet village, shot {i}",
            params={},
            prompt_hash=f"h{i}",
            template_version="t1",
            skill_version="1.0.0",
        )
        for i in range(n)
    ]


def test_chat_refinement_goes_straight_to_the_fallback_once_the_breaker_opens():
    port = closed_port()
    config = {"kind": "openai", "base_url": f"http://127.0.0.1:{port}", "model": "chat-1"}
    t0 = time.monotonic()
    policy = HealthPolicy(failure_threshold=3, cooldown_seconds=60)
    outcome = refine_image_prompts(_prompts(5), config, 0.001, policy)
    assert time.monotonic() - t0 < 5
    # the 1st prompt's 3rd failure opens the breaker: its 4th attempt and every later prompt
    # are refused without a request
    assert [d["error_code"] for d in outcome.degradations] == [health.BREAKER_OPEN] * 5
    assert [r["error_code"] for r in outcome.retries] == ["NF-PROVIDER-002"] * 3
    assert outcome.degraded and [p.prompt for p in outcome.output] == [
        p.prompt for p in _prompts(5)
    ]
    statuses = [(u.status, u.error_code) for u in outcome.usages]
    assert statuses == [("failed", "NF-PROVIDER-002")] * 3 + [("skipped", health.BREAKER_OPEN)] * 5
    assert all(u.units == 0 and u.unit == "tokens" and u.model == "chat-1" for u in outcome.usages)
