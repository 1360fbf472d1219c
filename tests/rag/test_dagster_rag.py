"""The RAG assets, the evaluation check, the candidate sensor and the schedule, on an
ephemeral Dagster instance against the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import dagster as dg
import pytest
from sqlalchemy import func, select

from nf_assets import ingest, rag
from nf_assets.definitions import defs
from nf_assets.partitions import novels_partitions
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.rag import eval as rag_eval
from nf_services.rag import governance
from shared.models import Base
from tests.conftest import CORPUS

pytestmark = pytest.mark.pg
T = Base.metadata.tables


@pytest.fixture(scope="module")
def own_db_url():
    """The candidate sensor looks across all tenants, so this module gets a database alone."""
    from migrations import runner
    from tests.conftest import create_database, drop_database

    url = create_database("nf_rag")
    runner.upgrade(url, "head")
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def setup(own_db_url, tmp_path_factory):
    from nf_cli.demo import first_chapters
    from nf_services.novels import ensure_tenant_project, register_novel
    from shared.db import get_engine
    from shared.storage import LocalArtifactStore

    engine = get_engine(own_db_url)
    root = tmp_path_factory.mktemp("rag-dagster")
    tenant, project = f"t{uuid.uuid4().hex[:8]}", "classics"
    ensure_tenant_project(engine, tenant, project)
    data = first_chapters((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes(), 3)
    novel = register_novel(
        engine,
        LocalArtifactStore(root),
        tenant_id=tenant,
        project_id=project,
        slug="aq",
        data=data,
        title="aq",
        trace_id=uuid.uuid4().hex,
    )
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(novels_partitions.name, [novel.partition_key])
    resources = {
        "db": DatabaseResource(url=own_db_url),
        "store": ArtifactStoreResource(root=str(root)),
    }
    return engine, instance, resources, novel, tenant, project


def _sensor_tick(setup, cursor=None) -> dg.SensorResult:
    engine, instance, resources, *_ = setup
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"db": resources["db"]}
    )
    return rag.rag_candidate_sensor(ctx)


def test_pipeline_sensor_and_schedule(setup):
    engine, instance, resources, novel, tenant, project = setup
    # ingest -> chapters -> chunks -> embeddings, with the check, as in novel_pipeline
    assets = [
        ingest.novel_source,
        ingest.chapters,
        rag.rag_chunks,
        rag.rag_embeddings,
        rag.rag_evaluation,
    ]
    local = dg.Definitions(
        assets=assets,
        resources=resources,
        jobs=[dg.define_asset_job("index_novel", selection=dg.AssetSelection.assets(*assets))],
    )
    result = local.resolve_job_def("index_novel").execute_in_process(
        partition_key=novel.partition_key, instance=instance
    )
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.check_name == rag.CHECK_NAME
    assert "default-char-ngram" in check.metadata["results"].value
    jobs = T["jobs"]
    with engine.connect() as conn:
        skill_jobs = conn.execute(
            select(jobs.c.skill_version, func.count())
            .where(
                jobs.c.tenant_id == tenant,
                jobs.c.skill_id == "SKILL_03",
            )
            .group_by(jobs.c.skill_version)
        ).all()
    assert dict(skill_jobs) == {"1.0.0": 3, rag.EMBED_SKILL_VERSION: 1}
    active = governance.require_active(tenant, project, engine=engine)

    # nothing to do until a candidate appears
    quiet = _sensor_tick(setup)
    assert quiet.run_requests == [] and quiet.skip_reason

    cand = governance.create_version(
        tenant,
        project,
        name="lsa",
        backend="lsa",
        params={"k": 64},
        created_by="alice",
        engine=engine,
    )
    first = _sensor_tick(setup, quiet.cursor)
    [req] = first.run_requests
    assert (req.job_name, req.partition_key) == (rag.INDEX_JOB, novel.partition_key)
    assert req.run_key == f"rag-index:{cand.id}:{novel.partition_key}"
    assert req.tags["nf/tenant"] == tenant and req.tags["nf/rag_trigger"] == "candidate_sensor"

    run = defs.resolve_job_def(rag.INDEX_JOB).execute_in_process(
        partition_key=novel.partition_key, instance=instance, resources=resources, tags=req.tags
    )
    assert run.success
    assert governance.get_version(cand.id, engine=engine).params.get("model_path")

    second = _sensor_tick(setup, first.cursor)
    [req] = second.run_requests
    assert req.job_name == rag.EVAL_JOB and req.run_key.startswith(f"rag-eval:{cand.id}:")
    run = defs.resolve_job_def(rag.EVAL_JOB).execute_in_process(
        partition_key=novel.partition_key, instance=instance, resources=resources, tags=req.tags
    )
    assert run.success
    [check] = run.get_asset_check_evaluations()
    assert "lsa" in check.metadata["results"].value
    assert check.metadata["trigger"].value == "candidate_sensor"
    assert rag_eval.results(engine, cand.id)
    third = _sensor_tick(setup, second.cursor)
    assert third.run_requests == []  # evaluated after its index: nothing more to do
    assert '"eval": 1' in third.cursor and '"index": 1' in third.cursor

    ctx = dg.build_schedule_context(
        instance=instance,
        resources={"db": resources["db"]},
        scheduled_execution_time=datetime(2030, 1, 2, 3, tzinfo=UTC),
    )
    scheduled = rag.rag_eval_schedule(ctx)
    mine = [r for r in scheduled if r.partition_key == novel.partition_key]
    assert [(r.job_name, r.run_key, r.tags["nf/rag_trigger"]) for r in mine] == [
        (rag.EVAL_JOB, f"rag-eval-schedule:{novel.partition_key}:20300102T0300", "schedule")
    ]

    # A corrupted active index: the next evaluation warns and suggests a rollback.
    import numpy as np

    from nf_services.rag.store import RagStore

    store = RagStore(engine)
    rows = store.chunk_rows(tenant, project)
    store.write_embeddings(
        tenant_id=tenant,
        project_id=project,
        trace_id=uuid.uuid4().hex,
        version_id=active.id,
        dimensions=active.dimensions,
        chunk_ids=[r.id for r in rows],
        vectors=np.random.default_rng(1).standard_normal((len(rows), active.dimensions)),
    )
    run = defs.resolve_job_def(rag.EVAL_JOB).execute_in_process(
        partition_key=novel.partition_key, instance=instance, resources=resources, tags=mine[0].tags
    )
    [check] = run.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["open_rollback_suggestions"].value == 1
    events = T["events"]
    with engine.connect() as conn:
        kinds = (
            conn.execute(
                select(events.c.payload["kind"].astext).where(
                    events.c.tenant_id == tenant, events.c.topic == "rag.suggestion"
                )
            )
            .scalars()
            .all()
        )
    assert "rollback" in kinds
