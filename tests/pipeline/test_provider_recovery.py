"""Degradation stays visible and temporary: a result made by a fallback because the configured
provider did not deliver is recorded as degraded (job row, events, usage ledger with the failed
calls) and is not served from the skill cache, so the next run renders it again on the provider
once it is back, on the same job row; everything else comes from the cache."""

from __future__ import annotations

import socket
import time
import uuid

import dagster as dg
import pytest
from sqlalchemy import select

from nf_cli.runs import run_novel
from nf_services.novels import ensure_tenant_project
from nf_services.providers import health
from nf_services.providers.base import Usage
from nf_services.skill_cache import Outcome, Recorder, Unit
from shared.models import Base
from shared.stages import Stage
from shared.storage import LocalArtifactStore
from tests.pipeline.conftest import small_novel
from tests.providers.fake_openai import FakeOpenAIServer

pytestmark = [pytest.mark.pg]
T = Base.metadata.tables
MEDIA_RERUN = {"EXEC_MEDIA", "SKILL_21", "EXEC_COMPOSE"}  # the media and what is made from it
FAST_RETRY = {"ops": {"panels_and_narration": {"config": {"retry_scale": 0.001}}}}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rows(engine, table: str, *where):
    t = T[table]
    with engine.connect() as conn:
        return conn.execute(select(t).where(*where)).mappings().all()


# the recorder alone ----------------------------------------------------------------------------
def _degradation(code: str) -> dict:
    return {
        "item": "panel 1",
        "attempt": 1,
        "from": "configured",
        "fallback": "offline",
        "reason": "provider failed",
        "error_code": code,
    }


def test_degraded_job_is_recorded_and_recomputed_on_its_row(engine, tmp_path):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    ensure_tenant_project(engine, tenant, "books")
    store = LocalArtifactStore(tmp_path)
    state = {"calls": 0}

    def compute(mode: str) -> Outcome:
        state["calls"] += 1
        if mode == "down":
            return Outcome(
                output="offline panel",
                usages=[
                    Usage("openai-http", "img-1", 0, "images", 0, "failed", "NF-PROVIDER-002"),
                    Usage("openai-http", "img-1", 0, "images", 0, "skipped", "NF-PROVIDER-007"),
                    Usage("offline-pillow", "pillow", 1, "images"),
                ],
                degradations=[_degradation("NF-PROVIDER-002")],
                provider="offline-pillow",
            )
        if mode == "gate":  # the provider delivered, a gate rejected it: a final result
            return Outcome("simple", degradations=[_degradation("NF-GATE-002")], provider="x")
        return Outcome("provider panel", usages=[Usage("openai-http", "img-1", 1, "images", 0.04)])

    def run(mode: str, chapter: int = 1) -> tuple[str, Recorder]:
        rec = Recorder.open_run(
            engine,
            store,
            tenant_id=tenant,
            project_id="books",
            partition_key=f"{tenant}.books.n1",
            dagster_run_id=uuid.uuid4().hex,
            trace_id=uuid.uuid4().hex,
        )
        unit = Unit(chapter, ("same inputs",), mode)
        [out] = rec.run_skill("EXEC_MEDIA", "1.0.0", Stage.RENDER, [unit], compute, str)
        return out, rec

    out, first = run("down")
    [job] = _rows(engine, "jobs", T["jobs"].c.tenant_id == tenant)
    assert out == "offline panel" and job["degraded"] and job["status"] == "succeeded"
    ledger = _rows(engine, "usage_ledger", T["usage_ledger"].c.tenant_id == tenant)
    assert sorted((r["provider"], r["status"], r["error_code"]) for r in ledger) == [
        ("offline-pillow", "succeeded", None),
        ("openai-http", "failed", "NF-PROVIDER-002"),
        ("openai-http", "skipped", "NF-PROVIDER-007"),
    ]
    events = _rows(engine, "events", T["events"].c.tenant_id == tenant)
    done = [e for e in events if e["topic"] == "job.succeeded"]
    assert [e["payload"]["degraded"] for e in done] == [True]
    assert [e["error_code"] for e in events if e["topic"] == "gate.degraded"] == ["NF-PROVIDER-002"]

    # next run, same inputs: not served from the cache; recomputed on the same job row
    out, second = run("up")
    [again] = _rows(engine, "jobs", T["jobs"].c.tenant_id == tenant)
    assert out == "provider panel" and state["calls"] == 2
    assert (again["id"], again["attempt"], again["degraded"]) == (job["id"], 2, False)
    assert again["run_id"] == second.scope.run_id != first.scope.run_id
    ledger = _rows(engine, "usage_ledger", T["usage_ledger"].c.job_id == job["id"])
    assert len(ledger) == 4  # nothing of the first run's ledger was lost or overwritten
    assert [float(r["cost_usd"]) for r in ledger if r["run_id"] == second.scope.run_id] == [
        pytest.approx(0.04)
    ]

    # healthy now: the third run is served from the cache
    out, third = run("down")
    assert out == "provider panel" and state["calls"] == 2
    assert third.stats["EXEC_MEDIA"].cached == 1

    # a gate's verdict is a final result, cached like any other
    run("gate", chapter=2)
    run("gate", chapter=2)
    assert state["calls"] == 3
    gated = _rows(engine, "jobs", T["jobs"].c.tenant_id == tenant, T["jobs"].c.chapter_index == 2)
    assert [j["degraded"] for j in gated] == [False]


# the whole pipeline ----------------------------------------------------------------------------
@pytest.fixture
def fast_breaker(monkeypatch):
    """Cool-downs short enough for the second run to find the breakers half-open; the policy
    is read in the op and travels to the pool workers with the work."""
    from shared.config import get_settings

    monkeypatch.setenv("NF_PROVIDER_BREAKER_COOLDOWN_SECONDS", "0.2")
    monkeypatch.setenv("NF_PROVIDER_BREAKER_MAX_COOLDOWN_SECONDS", "0.5")
    get_settings.cache_clear()
    health.reset()
    yield 0.5
    monkeypatch.undo()
    get_settings.cache_clear()


def _metadata(run, op: str) -> dict:
    [mat] = [m for m in run.result.asset_materializations_for_node(op)]
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.mark.slow
def test_provider_down_then_up(migrated_db_url, engine, tmp_path, fast_breaker):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    port = _closed_port()
    config = {
        "providers": {
            "image": {
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{port}",
                "model": "img-1",
                "timeout_seconds": 5,
            }
        }
    }
    instance = dg.DagsterInstance.ephemeral()

    def run():
        t0 = time.monotonic()
        result = run_novel(
            engine,
            tmp_path,
            tenant=tenant,
            project="books",
            slug="aq",
            data=small_novel(2),
            instance=instance,
            project_config=config,
            run_config=FAST_RETRY,
        )
        assert result.result.success
        return result, time.monotonic() - t0

    jobs = T["jobs"]
    ledger = T["usage_ledger"]

    # 1. the provider is down (connection refused): the run succeeds on the offline fallback
    down, _ = run()
    media = _rows(engine, "jobs", jobs.c.tenant_id == tenant, jobs.c.skill_id == "EXEC_MEDIA")
    assert len(media) == 2
    assert all(j["degraded"] and "openai-http" not in j["provider"] for j in media)
    assert _metadata(down, "panels_and_narration")["degraded_chapters"] == "1, 2"
    failed = _rows(
        engine, "usage_ledger", ledger.c.tenant_id == tenant, ledger.c.status != "succeeded"
    )
    assert failed and {r["provider"] for r in failed} == {"openai-http"}
    assert {r["job_id"] for r in failed} == {j["id"] for j in media}
    assert {r["error_code"] for r in failed} <= {"NF-PROVIDER-002", health.BREAKER_OPEN}
    assert health.BREAKER_OPEN in {r["error_code"] for r in failed}  # the breaker cut it short
    degraded = [
        e for e in _rows(engine, "events", T["events"].c.tenant_id == tenant)
        if e["topic"] == "gate.degraded"
    ]  # fmt: skip
    assert degraded and {e["payload"]["fallback"] for e in degraded} == {"offline"}
    before = {
        j["id"]: (j["attempt"], j["run_id"])
        for j in _rows(engine, "jobs", jobs.c.tenant_id == tenant)
        if j["skill_id"] not in MEDIA_RERUN
    }

    # 2. the provider is back on the same address: the degraded chapters are rendered again
    with FakeOpenAIServer(port=port) as server:
        time.sleep(fast_breaker)  # past the workers' breaker cool-down: the next call is a trial
        up, _ = run()
        images = [r for r in server.requests if r.path == "/v1/images/generations"]
    assert images, "the configured provider was called again"
    again = {
        j["id"]: j
        for j in _rows(engine, "jobs", jobs.c.tenant_id == tenant, jobs.c.skill_id == "EXEC_MEDIA")
    }
    assert set(again) == {j["id"] for j in media}  # the same job rows (same idempotency keys)
    assert all(j["attempt"] == 2 and not j["degraded"] for j in again.values())
    assert all("openai-http" in j["provider"] for j in again.values())
    meta = _metadata(up, "panels_and_narration")
    assert (meta["chapters_computed"], meta["chapters_cached"]) == (2, 0)
    assert meta["degraded_chapters"] == "none"
    paid = _rows(
        engine,
        "usage_ledger",
        ledger.c.tenant_id == tenant,
        ledger.c.provider == "openai-http",
        ledger.c.status == "succeeded",
    )
    assert len(paid) == len(images) and {r["job_id"] for r in paid} == set(again)
    assert {r["unit"] for r in paid} == {"images"}

    # everything not made from the media came from the cache: untouched rows, no new ones
    after = {
        j["id"]: (j["attempt"], j["run_id"])
        for j in _rows(engine, "jobs", jobs.c.tenant_id == tenant)
        if j["skill_id"] not in MEDIA_RERUN
    }
    assert after == before


def _all_providers_down(_payload) -> Outcome:
    """A chapter whose every provider failed: the calls travel on the error (module level, so a
    process pool can run it)."""
    from shared.errors import NFError

    calls = [Usage("openai-http", "img-1", 0, "images", 0, "failed", "NF-PROVIDER-003")] * 2
    raise NFError("NF-GATE-003", "panel 1: no fallback left", usages=calls)


def test_calls_of_a_failed_chapter_reach_the_ledger_from_a_pool_worker(engine, tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    from shared.errors import NFError

    tenant = f"t{uuid.uuid4().hex[:8]}"
    ensure_tenant_project(engine, tenant, "books")
    rec = Recorder.open_run(
        engine,
        LocalArtifactStore(tmp_path),
        tenant_id=tenant,
        project_id="books",
        partition_key=f"{tenant}.books.n1",
        dagster_run_id=uuid.uuid4().hex,
        trace_id=uuid.uuid4().hex,
    )
    units = [Unit(i, (i,), i) for i in (1, 2)]
    with ProcessPoolExecutor(2) as pool, pytest.raises(NFError) as failed:
        rec.run_skill(
            "EXEC_MEDIA", "1.0.0", Stage.RENDER, units, _all_providers_down, str, executor=pool
        )
    assert failed.value.code == "NF-GATE-003"
    ledger = _rows(engine, "usage_ledger", T["usage_ledger"].c.tenant_id == tenant)
    assert [(r["status"], r["error_code"]) for r in ledger] == [("failed", "NF-PROVIDER-003")] * 4
    jobs = _rows(engine, "jobs", T["jobs"].c.tenant_id == tenant)
    assert {(j["status"], j["error_code"]) for j in jobs} == {("failed", "NF-GATE-003")}
