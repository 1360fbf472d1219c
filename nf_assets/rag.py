"""RAG domain: chunks (SKILL_03) and embeddings per embedding version, their evaluation with
an asset check, and the schedule/sensor that keep evaluation and suggestions current.

- `rag_chunks`: SKILL_03 per chapter through the recorder (jobs, cache, artifacts like every
  skill), rows in `rag_chunks` (unchanged chunks keep their ids and vectors), and the novel's
  auto eval set.
- `rag_embeddings`: every active and candidate version of the project embeds the chunks it has
  no vector for (a project without any version gets the default one, activated); pgvector side
  tables are synced where the server has pgvector. One job row per version (SKILL_03@embed).
- `rag_evaluation`: every live version evaluated on the novel's eval sets (exact search, the
  recall reference), results stored, rollback/promote suggestions written; its check
  `retrieval_regression` warns while the active version has regressed (open rollback
  suggestion) and lists the open suggestions in the UI.
- `rag_eval_schedule` (daily): `rag_evaluation` for every indexed novel of a project with an
  active version.
- `rag_candidate_sensor`: a candidate never indexed for a novel -> a `rag_index` run; a
  candidate whose index for a novel is complete and newer than its last evaluation there -> a
  `rag_eval` run (run keys carry the index state, so each state is evaluated once).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import dagster as dg
from pydantic import BaseModel
from sqlalchemy import Engine, select, text

from nf_assets.partitions import novels_partitions
from nf_assets.runtime import open_recorder, run_tags
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.rag import eval as rag_eval
from nf_services.rag import governance, indexing, suggestions
from nf_services.rag.store import RagStore
from nf_services.skill_cache import Outcome, Unit
from nf_skills import s03_chunk
from nf_skills.contracts import ChapterSplit, Chunk
from shared.errors import NFError
from shared.models import Base
from shared.models.enums import EmbeddingStatus
from shared.slugs import PartitionKey
from shared.stages import Stage
from shared.storage import ArtifactStore, StoreSpec, open_store
from shared.telemetry import trace

T = Base.metadata.tables
GROUP = "rag"
MAX_CHARS = 400
OVERLAP = 50
EVAL_K = 10
INDEX_JOB = "rag_index"
EVAL_JOB = "rag_eval"
CHECK_NAME = "retrieval_regression"
EMBED_SKILL_VERSION = f"{s03_chunk.VERSION}+embed.1"


class EmbeddingReport(BaseModel):
    """One version's indexing outcome (the output the recorder caches for SKILL_03@embed)."""

    version_id: str
    version_name: str
    status: str
    backend: str
    dimensions: int
    embedded: int
    total: int
    fitted: bool
    pgvector_rows: int | None


def _novel(engine: Engine, partition_key: str) -> tuple[uuid.UUID, PartitionKey]:
    novels = T["novels"]
    with engine.connect() as conn:
        novel_id = conn.execute(
            select(novels.c.id).where(novels.c.partition_key == partition_key)
        ).scalar()
    if novel_id is None:
        raise NFError("NF-INPUT-010", f"no novel registered for partition {partition_key}")
    return novel_id, PartitionKey.parse(partition_key)


@dg.asset(
    partitions_def=novels_partitions,
    group_name=GROUP,
    description="SKILL_03: sentence-aware chunks with stable ids and exact chapter offsets "
    "(rows in rag_chunks), plus the novel's auto eval set.",
)
def rag_chunks(
    context,
    chapters: ChapterSplit,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> dict[str, Any]:
    rec = open_recorder(context, db, store)
    engine = db.engine()
    novel_id, key = _novel(engine, context.partition_key)
    units = [Unit(c.index, (c, MAX_CHARS, OVERLAP)) for c in chapters.chapters]
    per_chapter = rec.run(s03_chunk, Stage.INDEX, units, s03_chunk.chunk_chapter, list[Chunk])
    chunks = [c for group in per_chapter for c in group]
    written = RagStore(engine).write_chunks(
        tenant_id=key.tenant_id,
        project_id=key.project_id,
        trace_id=rec.scope.trace_id,
        novel_id=novel_id,
        chunks=chunks,
    )
    with trace(rec.scope.trace_id, tenant_id=key.tenant_id, project_id=key.project_id):
        auto = rag_eval.ensure_auto_eval_set(engine, key.tenant_id, key.project_id, novel_id)
    sizes = [len(c.text) for c in chunks]
    context.add_output_metadata(
        {
            "chunks": len(chunks),
            "inserted": written.inserted,
            "kept": written.kept,
            "deleted": written.deleted,
            "mean_chars": round(sum(sizes) / len(sizes), 1) if sizes else 0,
            "auto_eval_queries": len(auto.items) if auto else 0,
            "skill_version": s03_chunk.VERSION,
        }
    )
    return {"novel_id": str(novel_id), "chunks": len(chunks)}


def _embed_unit(args: tuple[str, StoreSpec, str, str, str]) -> Outcome:
    url, spec, trace_id, version_id, novel_id = args
    from shared.db import get_engine

    engine = get_engine(url)
    usages: list = []
    report = indexing.index_version(
        engine,
        governance.get_version(version_id, engine=engine),
        store=open_store(spec),
        trace_id=trace_id,
        novel_id=uuid.UUID(novel_id),
        usages=usages,
    )
    fields = {k: v for k, v in report.to_dict().items() if k in EmbeddingReport.model_fields}
    return Outcome(output=EmbeddingReport(**fields), usages=usages, provider=report.backend)


@dg.asset(
    partitions_def=novels_partitions,
    group_name=GROUP,
    deps=[rag_chunks],
    description="SKILL_03: vectors of the novel's chunks for every active and candidate "
    "embedding version of the project (incremental; pgvector HNSW where available).",
)
def rag_embeddings(
    context, db: DatabaseResource, store: ArtifactStoreResource
) -> list[dict[str, Any]]:
    rec = open_recorder(context, db, store)
    engine = db.engine()
    novel_id, key = _novel(engine, context.partition_key)
    rag = RagStore(engine)
    with trace(rec.scope.trace_id, tenant_id=key.tenant_id, project_id=key.project_id):
        versions = indexing.versions_to_index(engine, key.tenant_id, key.project_id)
    url = engine.url.render_as_string(hide_password=False)
    units = []
    for v in versions:
        # The cache key is what the vectors depend on: the version and the chunk set. A rerun
        # over unchanged chunks is served from the cache; new or changed chunks make a new job
        # (indexing is incremental, it embeds only what lacks a vector).
        fingerprint = rag.chunk_fingerprint(key.tenant_id, key.project_id, novel_id)
        state = (str(v.id), v.backend, v.backend_params, fingerprint)
        units.append(
            Unit(
                None,
                (state,),
                (url, rec.store.spec, rec.scope.trace_id, str(v.id), str(novel_id)),
            )
        )
    reports = rec.run_skill(
        s03_chunk.SKILL_ID, EMBED_SKILL_VERSION, Stage.INDEX, units, _embed_unit, EmbeddingReport
    )
    if context.run.job_name == INDEX_JOB:
        rec.finish()  # a standalone indexing run: nothing after this asset closes the run
    rows = [r.model_dump() for r in reports]
    context.add_output_metadata(
        {
            "versions": len(rows),
            "index": dg.MetadataValue.md(
                "| version | status | backend | dims | embedded now | total | pgvector |\n"
                "|---|---|---|---:|---:|---:|---:|\n"
                + "\n".join(
                    f"| {r['version_name']} | {r['status']} | {r['backend']} | "
                    f"{r['dimensions']} | {r['embedded']} | {r['total']} | "
                    f"{r['pgvector_rows'] if r['pgvector_rows'] is not None else '-'} |"
                    for r in rows
                )
            ),
            "version_ids": [r["version_id"] for r in rows],
        }
    )
    return rows


# evaluation ---------------------------------------------------------------------------------
def evaluate_novel(
    engine: Engine,
    partition_key: str,
    *,
    store: ArtifactStore,
    trace_id: str,
    trigger: str,
    k: int = EVAL_K,
) -> dict[str, Any]:
    """Evaluate every live version on the novel's eval sets, then refresh the suggestions."""
    novel_id, key = _novel(engine, partition_key)
    rows: list[dict[str, Any]] = []
    with trace(trace_id, tenant_id=key.tenant_id, project_id=key.project_id):
        rag_eval.ensure_auto_eval_set(engine, key.tenant_id, key.project_id, novel_id)
        sets = rag_eval.eval_sets(engine, key.tenant_id, key.project_id, novel_id=novel_id)
        live = governance.list_versions(
            key.tenant_id,
            key.project_id,
            engine=engine,
            statuses=(EmbeddingStatus.ACTIVE, EmbeddingStatus.CANDIDATE),
        )
        rag = RagStore(engine)
        for v in live:
            total, done = rag.coverage(key.tenant_id, key.project_id, v.id, novel_id=novel_id)
            if total == 0 or done < total:
                rows.append(
                    {
                        "version": v.name,
                        "status": str(v.status),
                        "skipped": f"index incomplete ({done}/{total})",
                    }
                )
                continue
            for s in sets:
                out = rag_eval.evaluate_version(
                    engine, v, s, k=k, method="exact", store=store, trigger=trigger
                )
                rows.append(
                    {
                        "version": v.name,
                        "status": str(v.status),
                        "eval_set": s.name,
                        "recall_at_k": round(out.metrics.recall_at_k, 4),
                        "mrr": round(out.metrics.mrr, 4),
                        "n": out.metrics.n_queries,
                    }
                )
        made = suggestions.suggest(engine, key.tenant_id, key.project_id)
    return {"rows": rows, "suggestions": made, "project": (key.tenant_id, key.project_id)}


def _eval_markdown(rows: list[dict[str, Any]], k: int) -> str:
    lines = [
        f"| version | status | eval set | recall@{k} | MRR@{k} | queries |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['version']} | {r['status']} | {r['skipped']} | | | |")
        else:
            lines.append(
                f"| {r['version']} | {r['status']} | {r['eval_set']} | "
                f"{r['recall_at_k']:.3f} | {r['mrr']:.3f} | {r['n']} |"
            )
    return "\n".join(lines)


@dg.asset(
    partitions_def=novels_partitions,
    group_name=GROUP,
    deps=[rag_embeddings],
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset="rag_evaluation",
            partitions_def=novels_partitions,  # one result per novel in the check history
            description="Fails (WARN) while the project's active embedding version has regressed "
            "(an open rollback suggestion); lists open rollback/promote suggestions.",
        )
    ],
    description="recall@10 and MRR of every live embedding version on the novel's eval sets "
    "(rows in rag_eval_results), then rollback/promote suggestions for the project.",
)
def rag_evaluation(
    context, db: DatabaseResource, store: ArtifactStoreResource
) -> dg.MaterializeResult:
    engine = db.engine()
    trigger = context.run.tags.get("nf/rag_trigger", "materialization")
    trace_id = context.run.tags.get("nf/trace_id") or context.run.run_id.replace("-", "")
    done = evaluate_novel(
        engine, context.partition_key, store=store.store(), trace_id=trace_id, trigger=trigger
    )
    tenant_id, project_id = done["project"]
    open_now = suggestions.list_suggestions(engine, tenant_id, project_id)
    rollbacks = [s for s in open_now if s["kind"] == "rollback"]
    listed = [
        {
            "id": str(s["id"]),
            "kind": s["kind"],
            "reason": s["evidence"].get("reason"),
            "from": s["evidence"].get("from_name"),
            "to": s["evidence"].get("to_name"),
        }
        for s in open_now
    ]
    table = dg.MetadataValue.md(_eval_markdown(done["rows"], EVAL_K))
    return dg.MaterializeResult(
        metadata={
            "results": table,
            "trigger": trigger,
            "suggestions_written": len([s for s in done["suggestions"] if s.created]),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=CHECK_NAME,
                passed=not rollbacks,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "results": table,
                    "open_rollback_suggestions": len(rollbacks),
                    "open_promote_suggestions": len(open_now) - len(rollbacks),
                    "suggestions": dg.MetadataValue.json(listed),
                    "trigger": trigger,
                },
            )
        ],
    )


rag_index_job = dg.define_asset_job(
    INDEX_JOB,
    selection=dg.AssetSelection.assets(rag_chunks, rag_embeddings),
    executor_def=dg.in_process_executor,
    description="Chunks and embeddings of one novel for every live embedding version.",
)
rag_eval_job = dg.define_asset_job(
    EVAL_JOB,
    selection=dg.AssetSelection.assets(rag_evaluation),
    executor_def=dg.in_process_executor,
    description="Evaluation of one novel's live embedding versions, with its check.",
)


# schedule and sensor --------------------------------------------------------------------------
def _request(
    job: str, partition_key: str, run_key: str, trace_id: str, trigger: str
) -> dg.RunRequest:
    key = PartitionKey.parse(partition_key)
    return dg.RunRequest(
        run_key=run_key,
        job_name=job,
        partition_key=partition_key,
        tags={**run_tags(key, trace_id), "nf/rag_trigger": trigger},
    )


def scheduled_requests(engine: Engine, tick: str) -> list[dg.RunRequest]:
    """One evaluation run per indexed novel of every project with an active version."""
    rows = _sql(
        engine,
        """
        SELECT DISTINCT n.partition_key FROM novels n
        JOIN embedding_versions v ON v.tenant_id = n.tenant_id AND v.project_id = n.project_id
        WHERE v.status = 'active'
          AND EXISTS (SELECT 1 FROM rag_chunks c WHERE c.novel_id = n.id)
        ORDER BY n.partition_key""",
    )
    return [
        _request(
            EVAL_JOB,
            r.partition_key,
            f"rag-eval-schedule:{r.partition_key}:{tick}",
            uuid.uuid5(uuid.NAMESPACE_URL, f"{r.partition_key}:{tick}").hex,
            "schedule",
        )
        for r in rows
    ]


@dg.schedule(
    name="rag_eval_schedule",
    cron_schedule="0 3 * * *",
    job=rag_eval_job,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily: evaluate the active (and candidate) versions of every indexed novel.",
)
def rag_eval_schedule(context: dg.ScheduleEvaluationContext, db: DatabaseResource):
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    requests = scheduled_requests(db.engine(), tick)
    return requests or dg.SkipReason("no project has an active embedding version")


def _sql(engine: Engine, sql: str) -> list:
    with engine.connect() as conn:
        return conn.execute(text(sql)).all()


def candidate_requests(engine: Engine) -> tuple[list[dg.RunRequest], list[str]]:
    """(run requests, partition keys they use) for candidates to index or to evaluate."""
    never_indexed = _sql(
        engine,
        """
        SELECT v.id AS version_id, n.partition_key FROM embedding_versions v
        JOIN novels n ON n.tenant_id = v.tenant_id AND n.project_id = v.project_id
        WHERE v.status = 'candidate'
          AND EXISTS (SELECT 1 FROM rag_chunks c WHERE c.novel_id = n.id)
          AND NOT EXISTS (SELECT 1 FROM rag_embeddings e JOIN rag_chunks c ON c.id = e.chunk_id
                          WHERE e.embedding_version_id = v.id AND c.novel_id = n.id)
        ORDER BY v.created_at, n.partition_key""",
    )
    indexed = _sql(
        engine,
        """
        SELECT v.id AS version_id, n.partition_key, max(e.updated_at) AS indexed_at,
               (SELECT max(r.created_at) FROM rag_eval_results r
                JOIN rag_eval_sets s ON s.id = r.eval_set_id
                WHERE r.embedding_version_id = v.id AND s.novel_id = n.id) AS evaluated_at
        FROM embedding_versions v
        JOIN novels n ON n.tenant_id = v.tenant_id AND n.project_id = v.project_id
        JOIN rag_chunks c ON c.novel_id = n.id
        LEFT JOIN rag_embeddings e ON e.chunk_id = c.id AND e.embedding_version_id = v.id
        WHERE v.status = 'candidate'
        GROUP BY v.id, v.created_at, n.id, n.partition_key
        HAVING count(e.id) = count(c.id)
        ORDER BY v.created_at, n.partition_key""",
    )
    requests: list[dg.RunRequest] = []
    for r in never_indexed:
        requests.append(
            _request(
                INDEX_JOB,
                r.partition_key,
                f"rag-index:{r.version_id}:{r.partition_key}",
                uuid.uuid4().hex,
                "candidate_sensor",
            )
        )
    for r in indexed:
        if r.evaluated_at is not None and r.evaluated_at >= r.indexed_at:
            continue
        stamp = r.indexed_at.isoformat() if isinstance(r.indexed_at, datetime) else r.indexed_at
        requests.append(
            _request(
                EVAL_JOB,
                r.partition_key,
                f"rag-eval:{r.version_id}:{r.partition_key}:{stamp}",
                uuid.uuid4().hex,
                "candidate_sensor",
            )
        )
    return requests, sorted({r.partition_key for r in [*never_indexed, *indexed]})


def evaluate_candidate_sensor(
    engine: Engine, instance: dg.DagsterInstance, cursor: str | None
) -> dg.SensorResult:
    state = json.loads(cursor) if cursor else {"ticks": 0, "index": 0, "eval": 0}
    requests, keys = candidate_requests(engine)
    state["ticks"] += 1
    state["index"] += sum(1 for r in requests if r.job_name == INDEX_JOB)
    state["eval"] += sum(1 for r in requests if r.job_name == EVAL_JOB)
    missing = [k for k in keys if not instance.has_dynamic_partition(novels_partitions.name, k)]
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[novels_partitions.build_add_request(missing)]
        if missing
        else [],
        cursor=json.dumps(state, sort_keys=True),
        skip_reason=None if requests else "no candidate to index or evaluate",
    )


@dg.sensor(
    name="rag_candidate_sensor",
    jobs=[rag_index_job, rag_eval_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New candidate embedding versions: index them per novel, then evaluate each "
    "one as soon as its index for a novel is complete (run_key = version:novel:index state).",
)
def rag_candidate_sensor(
    context: dg.SensorEvaluationContext, db: DatabaseResource
) -> dg.SensorResult:
    return evaluate_candidate_sensor(db.engine(), context.instance, context.cursor)


defs = dg.Definitions(
    assets=[rag_chunks, rag_embeddings, rag_evaluation],
    jobs=[rag_index_job, rag_eval_job],
    schedules=[rag_eval_schedule],
    sensors=[rag_candidate_sensor],
)
