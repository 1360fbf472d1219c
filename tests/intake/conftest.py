"""Intake tests: a cast of tenants over the worker's migrated database, novels registered through
the write path, and an ephemeral Dagster instance per test."""

from __future__ import annotations

import uuid

import dagster as dg
import pytest
from sqlalchemy import update

from nf_gateway import service
from nf_gateway.principal import system_operator
from nf_gateway.testing import TWO_CHAPTERS, Cast, seed_cast
from shared.models import Base
from shared.storage import LocalArtifactStore

T = Base.metadata.tables


@pytest.fixture(scope="session")
def intake_engine(migrated_db_url):
    from shared.db import get_engine

    return get_engine(migrated_db_url)


@pytest.fixture
def cast(intake_engine) -> Cast:
    """A fresh cast per test: the queue is shared, so each test drains only its own tenants."""
    return seed_cast(intake_engine)


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as inst:
        yield inst


@pytest.fixture
def submit(intake_engine, tmp_path):
    """submit(tenant, project, slug) -> request id; the novel is uploaded on first use."""
    store = LocalArtifactStore(tmp_path / "store")
    op = system_operator()

    def _submit(tenant: str, project: str, slug: str, key: str | None = None) -> uuid.UUID:
        service.upload_novel(
            intake_engine,
            store,
            op,
            tenant_id=tenant,
            project_id=project,
            data=TWO_CHAPTERS,
            trace_id=uuid.uuid4().hex,
            slug=slug,
        )
        done = service.submit_request(
            intake_engine,
            op,
            tenant_id=tenant,
            project_id=project,
            novel=slug,
            idempotency_key=key or uuid.uuid4().hex,
            trace_id=uuid.uuid4().hex,
        )
        return done.request["id"]

    return _submit


@pytest.fixture(autouse=True)
def _park_foreign_requests(intake_engine):
    """The queue is shared by the worker's tests: requests others left pending or claimed
    would be picked up by ours, so park them first."""
    req = T["execution_requests"]
    with intake_engine.begin() as conn:
        conn.execute(
            update(req)
            .where(req.c.status.in_(["pending", "claimed"]))
            .values(status="cancelled", stage="cancelled", error_code="NF-ORCH-003")
        )
