"""SKILL_20's text step on an OpenAI-compatible chat provider chosen by project config: image
prompts are refined by the model; when the provider keeps failing, the compiled prompts are
used and the fallback is recorded."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from sqlalchemy import select

from nf_cli.runs import run_novel
from shared.models import Base
from tests.pipeline.conftest import small_novel
from tests.providers.fake_openai import FakeOpenAIServer

pytestmark = [pytest.mark.pg, pytest.mark.slow]
T = Base.metadata.tables
FAST_RETRY = {"ops": {"compiled_prompts": {"config": {"retry_scale": 0.001}}}}


def _run(engine, tmp_path, mode: str):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    with FakeOpenAIServer() as server:
        config = {
            "providers": {
                "chat": {
                    "kind": "openai",
                    "base_url": server.url_for(mode),
                    "model": "chat-1",
                    "timeout": 2,
                }
            }
        }
        run = run_novel(
            engine,
            tmp_path,
            tenant=tenant,
            project="books",
            slug="aq1",
            data=small_novel(1),
            instance=dg.DagsterInstance.ephemeral(),
            project_config=config,
            run_config=FAST_RETRY,
        )
        calls = len(server.requests)
    assert run.result.success
    prompts = [p for ch in run.result.output_for_node("compiled_prompts") for p in ch]
    return tenant, run, calls, [p for p in prompts if p.kind == "image"]


def test_image_prompts_are_refined_by_the_configured_chat_model(migrated_db_url, engine, tmp_path):
    tenant, _, calls, images = _run(engine, tmp_path, "ok")
    assert images and calls == len(images)
    assert all(p.prompt.startswith("fake reply to:") for p in images)
    ledger = T["usage_ledger"]
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(ledger).where(ledger.c.tenant_id == tenant, ledger.c.skill_id == "SKILL_20")
            )
            .mappings()
            .all()
        )
    assert len(rows) == len(images)
    assert {(r["provider"], r["unit"]) for r in rows} == {("openai-http", "tokens")}


def test_failing_chat_provider_falls_back_to_the_compiled_prompts(
    migrated_db_url, engine, tmp_path
):
    tenant, _, calls, images = _run(engine, tmp_path, "500")
    # retried, until the circuit breaker opened: later prompts are not sent at all
    assert 4 <= calls < 4 * len(images)
    assert not any(p.prompt.startswith("fake reply") for p in images)
    events = T["events"]
    with engine.connect() as conn:
        rows = conn.execute(
            select(events.c.topic, events.c.error_code).where(events.c.tenant_id == tenant)
        ).all()
    degraded = [code for topic, code in rows if topic == "gate.degraded"]
    retried = [code for topic, code in rows if topic == "run.retried"]
    assert len(degraded) == len(images)
    assert set(degraded) <= {"NF-PROVIDER-002", "NF-PROVIDER-007"}
    assert retried and set(retried) == {"NF-PROVIDER-002"}
