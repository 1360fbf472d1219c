"""A provider that keeps failing: retries with backoff, then the degradation loop falls back to
the offline provider; everything is recorded and nothing is duplicated."""

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


def test_failing_image_provider_retries_then_degrades_to_offline(migrated_db_url, engine, tmp_path):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    with FakeOpenAIServer() as server:
        config = {
            "providers": {
                "image": {
                    "kind": "openai",
                    "base_url": server.url_for("500"),
                    "model": "img-1",
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
            run_config={"ops": {"panels_and_narration": {"config": {"retry_scale": 0.001}}}},
        )
        assert server.requests, "the configured provider was really called"
    assert run.result.success
    events = T["events"]
    with engine.connect() as conn:
        rows = conn.execute(select(events).where(events.c.tenant_id == tenant)).mappings().all()
        jobs = (
            conn.execute(
                select(T["jobs"]).where(
                    T["jobs"].c.tenant_id == tenant, T["jobs"].c.skill_id == "EXEC_MEDIA"
                )
            )
            .mappings()
            .all()
        )
        arts = conn.execute(
            select(T["artifacts"].c.sha256, T["artifacts"].c.kind).where(
                T["artifacts"].c.tenant_id == tenant
            )
        ).all()
    retried = [e for e in rows if e["topic"] == "run.retried"]
    degraded = [e for e in rows if e["topic"] == "gate.degraded"]
    assert retried and {e["error_code"] for e in retried} == {"NF-PROVIDER-002"}
    assert degraded and {e["payload"]["fallback"] for e in degraded} == {"offline"}
    # 5xx until the provider's circuit breaker opens, then refused at once (NF-PROVIDER-007)
    assert {e["error_code"] for e in degraded} <= {"NF-PROVIDER-002", "NF-PROVIDER-007"}
    [job] = jobs
    assert job["status"] == "succeeded" and "offline-pillow" in job["provider"]
    assert len(arts) == len(set(arts))  # no duplicate artifacts
    meta = {e.asset_check_key.name: e for e in run.result.get_asset_check_evaluations()}
    assert meta["media_gate"].passed
    assert meta["media_gate"].metadata["degradations"].value == len(degraded)
