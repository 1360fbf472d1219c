"""What every op needs: the run's scope from the partition key and run tags, and a recorder."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from functools import lru_cache, partial
from types import ModuleType
from typing import Any

import dagster as dg
from sqlalchemy import select

from nf_assets.run_coordinator import TAG_PROJECT, TAG_TENANT
from nf_services.database import ArtifactStoreResource, DatabaseResource
from nf_services.governance.experiments import chapter_versions, unit_id
from nf_services.governance.gate_results import ChapterGateOutcome, record_check_outcomes
from nf_services.skill_cache import Outcome, Recorder, Unit
from nf_skills.contracts import GateResult
from shared.config import get_settings
from shared.errors import NFError
from shared.models import Base
from shared.slugs import PartitionKey
from shared.stages import Stage

TAG_TRACE = "nf/trace_id"
TAG_REQUEST = "nf/request_id"


class ProviderCallConfig(dg.Config):
    # Shrinks provider retry backoff (tests and benchmarks); 1.0 in production.
    retry_scale: float = 1.0


def trace_id_of(context: dg.OpExecutionContext | dg.AssetCheckExecutionContext) -> str:
    # A run started without a trace tag (UI backfill) gets one derived from its run id.
    return context.run.tags.get(TAG_TRACE) or context.run.run_id.replace("-", "")


# Ops retry what may pass on a second try (a database restart that outlasted the recorder's own
# retries, a provider error that escaped the fallback chain); errors that cannot are raised as
# Failure(allow_retries=False) by OpRecorder, so a bad input does not wait for three attempts.
TRANSIENT_RETRY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _call(fn: Callable[..., Any], payload: Any) -> Outcome:
    """A skill function on a unit's payload (a tuple is spread over its arguments); a plain
    return value is wrapped in an Outcome. Module-level so pool workers can unpickle it."""
    out = fn(*payload) if isinstance(payload, tuple) else fn(payload)
    return out if isinstance(out, Outcome) else Outcome(output=out)


class OpRecorder(Recorder):
    def run(
        self,
        skill: ModuleType,
        stage: Stage,
        units: Sequence[Unit],
        fn: Callable[..., Any],
        out_type: Any,
        *,
        executor: Executor | None = None,
    ) -> list[Any]:
        """`run_skill` for a skill module (its SKILL_ID and VERSION): `fn` takes a unit's payload
        spread over its arguments and returns the output or an Outcome."""
        return self.run_skill(
            skill.SKILL_ID,
            skill.VERSION,
            stage,
            units,
            partial(_call, fn),
            out_type,
            executor=executor,
        )

    def run_skill(self, *args, **kwargs):
        try:
            return super().run_skill(*args, **kwargs)
        except NFError as exc:
            if exc.retryable:
                raise  # the op's retry policy tries again; lifecycle settles the run's row
            self.finish(failed=exc)  # the op knows why the run fails; record it first
            raise dg.Failure(description=str(exc), allow_retries=False) from exc


def open_recorder(
    context: dg.OpExecutionContext | dg.AssetCheckExecutionContext,
    db: DatabaseResource,
    store: ArtifactStoreResource,
) -> Recorder:
    key = PartitionKey.parse(context.partition_key)
    request_id = context.run.tags.get(TAG_REQUEST)
    return OpRecorder.open_run(
        db.engine(),
        store.store(),
        tenant_id=key.tenant_id,
        project_id=key.project_id,
        partition_key=str(key),
        dagster_run_id=context.run.run_id,
        trace_id=trace_id_of(context),
        request_id=uuid.UUID(request_id) if request_id else None,
    )


def project_config(db: DatabaseResource, partition_key: str) -> dict:
    """The project's settings (style, providers) from its row in `projects`."""
    key = PartitionKey.parse(partition_key)
    projects = Base.metadata.tables["projects"]
    with db.engine().connect() as conn:
        cfg = conn.execute(
            select(projects.c.config).where(
                projects.c.tenant_id == key.tenant_id, projects.c.id == key.project_id
            )
        ).scalar()
    return cfg or {}


def active_skill_config(db: DatabaseResource, partition_key: str, skill_id: str) -> dict:
    """Config of the project's active version of a skill (e.g. its provider choice), if any."""
    key = PartitionKey.parse(partition_key)
    versions = Base.metadata.tables["skill_versions"]
    with db.engine().connect() as conn:
        cfg = conn.execute(
            select(versions.c.config).where(
                versions.c.tenant_id == key.tenant_id,
                versions.c.project_id == key.project_id,
                versions.c.skill_id == skill_id,
                versions.c.status == "active",
            )
        ).scalar()
    return cfg or {}


def experiment_arms(
    db: DatabaseResource, partition_key: str, skill_id: str, chapter_indices: list[int]
) -> dict[int, tuple[str, dict]]:
    """chapter -> (version, config) when a SKILL_17 experiment on the skill runs in the project:
    both arms are materialized, chapter by chapter, as the deterministic assignment says."""
    key = PartitionKey.parse(partition_key)
    units = {unit_id(partition_key, i): i for i in chapter_indices}
    arms = chapter_versions(db.engine(), key.tenant_id, key.project_id, skill_id, list(units))
    return {units[u]: arm for u, arm in arms.items()}


def failures_md(verdicts: list[tuple[int, GateResult]], limit: int = 20) -> dg.MetadataValue:
    """The failed chapters of a gate and the rules they failed, for the check's metadata."""
    lines = [
        f"- chapter {i}: "
        + "; ".join(
            f"{f.rule}={f.value:.3g} (need {f.threshold:.3g})" for f in r.findings if not f.passed
        )
        for i, r in verdicts
        if not r.passed
    ]
    return dg.MetadataValue.md("\n".join(lines[:limit]) or "none")


def settle_gate(
    context: dg.AssetCheckExecutionContext,
    db: DatabaseResource,
    store: ArtifactStoreResource,
    gate: str,
    version: str,
    verdicts: list[tuple[int, GateResult]],
    error_code: str,
) -> None:
    """Record a gate's per-chapter verdicts (the promotion gate's evidence); a failed blocking
    gate also ends the run in nf's tables with its error code, as Dagster ends it in its own."""
    record_check_outcomes(
        db.engine(),
        dagster_run_id=context.run.run_id,
        gate=gate,
        gate_version=version,
        outcomes=[
            ChapterGateOutcome(i, r.passed, {f.rule: f.value for f in r.findings})
            for i, r in verdicts
        ],
    )
    failed = [i for i, r in verdicts if not r.passed]
    if failed:
        detail = f"{gate} failed on chapter(s) {', '.join(map(str, failed[:20]))}"
        open_recorder(context, db, store).finish(failed=NFError(error_code, detail))


@lru_cache(maxsize=1)
def media_pool() -> ProcessPoolExecutor:
    """The process's pool for media work (both cores), created once and shared by every op and
    run. forkserver: forking a process that runs Dagster's threads is unsafe; the server
    preloads the executors so each worker starts warm instead of re-importing them."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["nf_assets.executors"])
    workers = get_settings().media_workers or os.cpu_count() or 2
    pool = ProcessPoolExecutor(workers, mp_context=ctx)
    atexit.register(pool.shutdown, wait=False, cancel_futures=True)
    return pool


def run_tags(key: PartitionKey, trace_id: str, request_id: str | None = None) -> dict[str, str]:
    tags = {TAG_TENANT: key.tenant_id, TAG_PROJECT: key.project_id, TAG_TRACE: trace_id}
    if request_id:
        tags[TAG_REQUEST] = request_id
    return tags
