"""50 parallel submissions of one Idempotency-Key: one request row, one event, one run."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import httpx
import pytest
from sqlalchemy import func, select, update

from nf_assets import intake
from nf_gateway.testing import upload
from shared.models import Base

pytestmark = pytest.mark.pg

T = Base.metadata.tables
N = 50


def fire(url, headers, path, body, keys):
    barrier = threading.Barrier(len(keys))

    def one(key):
        with httpx.Client(base_url=url, timeout=60) as c:
            barrier.wait()
            return c.post(path, json=body, headers={**headers, "Idempotency-Key": key})

    with ThreadPoolExecutor(len(keys)) as pool:
        return list(pool.map(one, keys))


def test_parallel_duplicates_make_one_request_and_one_run(
    gateway_url, client, cast, auth, gateway_engine
):
    upload(client, auth["editor"], cast.a, cast.project, "rush")
    key = uuid.uuid4().hex
    path = f"/v1/projects/{cast.a}/{cast.project}/requests"
    responses = fire(gateway_url, auth["editor"], path, {"novel": "rush"}, [key] * N)

    assert sorted(r.status_code for r in responses) == [200] * (N - 1) + [202]
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    req, ev = T["execution_requests"], T["events"]
    with gateway_engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count())
                .select_from(req)
                .where(req.c.tenant_id == cast.a, req.c.idempotency_key.like(f"k1:%:{key}"))
            ).scalar()
            == 1
        )
        assert (
            conn.execute(
                select(func.count()).select_from(ev).where(ev.c.request_id == uuid.UUID(ids.pop()))
            ).scalar()
            == 1
        )

    # Only this test's request may be in the queue while the sensor ticks.
    rid = responses[0].json()["id"]
    with gateway_engine.begin() as conn:
        conn.execute(
            update(req)
            .where(req.c.status.in_(["pending", "claimed"]), req.c.id != uuid.UUID(rid))
            .values(status="cancelled", stage="cancelled", error_code="NF-ORCH-003")
        )
    with dg.DagsterInstance.ephemeral() as instance:
        first = intake.evaluate_intake(gateway_engine, instance, None)
        assert [rr.run_key for rr in first.run_requests] == [rid]
        instance.add_dynamic_partitions("novels", [first.run_requests[0].partition_key])
        instance.create_run_for_job(
            _stand_in, tags=first.run_requests[0].tags, status=dg.DagsterRunStatus.NOT_STARTED
        )
        assert intake.evaluate_intake(gateway_engine, instance, first.cursor).run_requests == []


def test_parallel_distinct_keys_make_distinct_requests(
    gateway_url, client, cast, auth, gateway_engine
):
    upload(client, auth["editor"], cast.a, cast.project, "crowd")
    keys = [uuid.uuid4().hex for _ in range(N)]
    responses = fire(
        gateway_url,
        auth["editor"],
        f"/v1/projects/{cast.a}/{cast.project}/requests",
        {"novel": "crowd"},
        keys,
    )
    assert [r.status_code for r in responses] == [202] * N
    assert len({r.json()["id"] for r in responses}) == N


@dg.op
def _noop() -> None:
    pass


@dg.job
def _stand_in():
    _noop()
