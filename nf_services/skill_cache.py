"""The skill cache: every skill call becomes a job row with events, its output an artifact, and
a call whose inputs and skill version did not change is served from the cache. `Recorder` is a
run's log (nf_services.run_log) with this cache.

A job's idempotency key is `<novel>:<chapter>:<skill>@<version>:<input hash>`, so re-running a
novel (or a backfill over many) finds the succeeded job and loads its JSON output from the
content-addressed store instead of recomputing, and can never insert a second job or artifact for
the same work. Writes are batched per skill call over all chapters: the cost per run stays a few
statements per skill, not per chapter.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_services.providers.base import Usage
from nf_services.run_log import RunLog, RunScope, utcnow
from shared.blobs import ArtifactStore
from shared.errors import NFError, classify
from shared.events import emit_many
from shared.models import Base
from shared.models.enums import EventTopic, JobStatus
from shared.retry import call_db
from shared.stages import Stage

T = Base.metadata.tables


def canonical_hash(*parts: Any) -> str:
    """sha256 over the canonical JSON of pydantic models / plain data."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, BaseModel):
            h.update(part.model_dump_json().encode())
        elif isinstance(part, list | tuple) and part and isinstance(part[0], BaseModel):
            for item in part:
                h.update(item.model_dump_json().encode())
        else:
            h.update(json.dumps(part, sort_keys=True, ensure_ascii=False, default=str).encode())
        h.update(b"\x1e")
    return h.hexdigest()


@dataclass(frozen=True)
class FileArtifact:
    """A media file an executor put in the store, to be registered as an artifact row."""

    kind: str  # png | wav | mp4 | srt | vtt | json | txt
    path: str
    sha256: str
    size_bytes: int
    mime: str
    chapter_index: int | None = None


@dataclass
class Outcome:
    """What a unit of skill work returns besides its output (picklable for process pools)."""

    output: Any  # a pydantic model or a list of them
    usages: list[Usage] = field(default_factory=list)
    files: list[FileArtifact] = field(default_factory=list)
    retries: list[dict] = field(default_factory=list)  # {"attempt", "error_code", "delay"}
    degradations: list[dict] = field(default_factory=list)  # {"attempt", "reason", "fallback"}
    provider: str | None = None

    @property
    def degraded(self) -> bool:
        """A fallback stood in because the configured provider did not deliver (down, breaker
        open, deadline spent; not a gate's verdict): the job is recorded as degraded and its
        output is not served from the cache, so the next run tries the provider again."""
        from nf_services.providers.health import is_temporary

        return any(is_temporary(d) for d in self.degradations)


@dataclass(frozen=True)
class Unit:
    """One chapter's (or the whole novel's, chapter_index None) call of a skill."""

    chapter_index: int | None
    inputs: tuple  # what the output depends on: hashed into the cache key
    payload: Any = None  # what the compute function receives; None: the inputs
    version: str | None = None  # overrides the skill's version (a SKILL_17 experiment arm)

    def __post_init__(self) -> None:
        if self.payload is None:
            object.__setattr__(self, "payload", self.inputs)


@dataclass
class BatchStats:
    computed: int = 0
    cached: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0
    retries: int = 0
    degradations: int = 0


def _blob_key(f: FileArtifact) -> str:
    return f"blob:{f.sha256}:{f.kind}"


FLUSH_SECONDS = 1.0  # inline work is committed at least this often


def _finished_batches(
    compute: Callable[[Any], Outcome],
    items: list[tuple[int, Any]],
    executor: Executor | None,
) -> Iterator[list[tuple[int, tuple[Outcome, float] | BaseException]]]:
    """(position, (outcome, seconds) or the exception) for every item, in batches as they finish:
    from a pool, whatever completed since the last batch; inline, at most FLUSH_SECONDS of work."""
    if executor is None or len(items) < 2:
        batch, flushed = [], time.perf_counter()
        for pos, payload in items:
            t0 = time.perf_counter()
            try:
                batch.append((pos, (compute(payload), time.perf_counter() - t0)))
            except Exception as exc:  # noqa: BLE001 - recorded as a failed job
                batch.append((pos, exc))
            if time.perf_counter() - flushed >= FLUSH_SECONDS:
                yield batch
                batch, flushed = [], time.perf_counter()
        if batch:
            yield batch
        return
    t0 = time.perf_counter()
    pending = {executor.submit(compute, payload): pos for pos, payload in items}
    try:
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            batch = []
            for fut in finished:
                pos = pending.pop(fut)
                exc = fut.exception()
                batch.append((pos, exc if exc else (fut.result(), time.perf_counter() - t0)))
            yield batch
    finally:
        for fut in pending:  # the run is failing: do not leave chapters running in the pool
            fut.cancel()


class Recorder(RunLog):
    def __init__(self, engine: Engine, store: ArtifactStore, scope: RunScope) -> None:
        super().__init__(engine, store, scope)
        self.stats: dict[str, BatchStats] = {}  # per skill, this op's calls

    # skills ------------------------------------------------------------------------------
    def run_skill(
        self,
        skill_id: str,
        version: str,
        stage: Stage,
        units: Sequence[Unit],
        compute: Callable[[Any], Outcome],
        out_type: Any,
        *,
        executor: Executor | None = None,
    ) -> list[Any]:
        """Outputs for `units` in order: cached where possible, computed (maybe in a pool) else.

        `out_type` is what one unit returns (a model class or e.g. `list[Scene]`).
        """
        started = time.perf_counter()
        adapter = TypeAdapter(out_type)
        stats = self.stats.setdefault(skill_id, BatchStats())
        keys = [self._job_key(skill_id, u.version or version, u) for u in units]
        outputs: dict[int, Any] = {}
        for pos, raw in call_db(lambda: self._cached_outputs(keys)).items():
            outputs[pos] = adapter.validate_json(raw)
        todo = [i for i in range(len(units)) if i not in outputs]
        stats.cached += len(outputs)
        if todo:
            claimed = call_db(
                lambda: self._claim(
                    skill_id, version, stage, [units[i] for i in todo], [keys[i] for i in todo]
                )
            )
            job_of = dict(zip(todo, claimed, strict=True))
            failed: list[tuple[int, uuid.UUID, BaseException]] = []
            # each batch of finished chapters is committed before waiting for the next, so a
            # crash or a lost connection costs only the chapters still in flight
            for batch in _finished_batches(
                compute, [(i, units[i].payload) for i in todo], executor
            ):
                done = [(i, job_of[i], *res) for i, res in batch if isinstance(res, tuple)]
                failed += [(i, job_of[i], res) for i, res in batch if not isinstance(res, tuple)]
                call_db(lambda d=done: self._complete(skill_id, version, stage, units, d, adapter))
                for i, _job_id, outcome, _secs in done:
                    outputs[i] = outcome.output
                    stats.cost_usd += sum(u.cost_usd for u in outcome.usages)
                    stats.retries += len(outcome.retries)
                    stats.degradations += len(outcome.degradations)
                stats.computed += len(done)
            if failed:
                call_db(lambda: self._fail(skill_id, version, stage, units, failed))
                first = classify(failed[0][2])
                error = NFError(
                    first.code,
                    f"{skill_id} failed on chapter {units[failed[0][0]].chapter_index}: "
                    f"{first.detail}",
                )
                raise error
        stats.seconds += time.perf_counter() - started
        return [outputs[i] for i in range(len(units))]

    def _job_key(self, skill_id: str, version: str, unit: Unit) -> str:
        input_hash = canonical_hash(version, *unit.inputs)
        chapter = "novel" if unit.chapter_index is None else str(unit.chapter_index)
        return f"{self.scope.partition_key}:{chapter}:{skill_id}@{version}:{input_hash[:32]}"

    def _cached_outputs(self, keys: list[str]) -> dict[int, str]:
        jobs, arts = T["jobs"], T["artifacts"]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.idempotency_key, arts.c.path)
                .join(arts, arts.c.id == jobs.c.output_artifact_id)
                .where(
                    jobs.c.tenant_id == self.scope.tenant_id,
                    jobs.c.idempotency_key.in_(keys),
                    jobs.c.status == JobStatus.SUCCEEDED,
                    # a degraded result was a stand-in: recompute it (same job row, via _claim)
                    jobs.c.degraded.is_(False),
                )
            ).all()
        found = dict(rows)
        out: dict[int, str] = {}
        for pos, key in enumerate(keys):
            path = found.get(key)
            if path is None:
                continue
            try:
                out[pos] = self.store.open_bytes(path).decode()
            except NFError:
                continue  # blob lost from storage: recompute rather than fail
        return out

    def _claim(self, skill_id, version, stage, units, keys) -> list[uuid.UUID]:
        jobs = T["jobs"]
        now = utcnow()
        rows = [
            {
                "id": uuid.uuid4(),
                "tenant_id": self.scope.tenant_id,
                "project_id": self.scope.project_id,
                "trace_id": self.scope.trace_id,
                "idempotency_key": key,
                "run_id": self.scope.run_id,
                "novel_id": self.scope.novel_id,
                "chapter_index": u.chapter_index,
                "skill_id": skill_id,
                "skill_version": u.version or version,
                "input_hash": key.rsplit(":", 1)[1],
                "status": JobStatus.CLAIMED,
                "stage": stage,
                "attempt": 1,
                "started_at": now,
            }
            for u, key in zip(units, keys, strict=True)
        ]
        stmt = pg_insert(jobs).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "idempotency_key"],
            set_={
                "status": JobStatus.CLAIMED,
                "attempt": jobs.c.attempt + 1,
                "run_id": stmt.excluded.run_id,
                "trace_id": stmt.excluded.trace_id,
                "started_at": now,
                "error_code": None,
                "error_message": None,
                "updated_at": now,
            },
        ).returning(jobs.c.id, jobs.c.idempotency_key)
        with self.engine.begin() as conn:
            ids = dict((k, i) for i, k in conn.execute(stmt).all())
            job_ids = [ids[k] for k in keys]
            emit_many(
                conn,
                [
                    self._event(
                        EventTopic.JOB_CLAIMED,
                        stage=stage,
                        job_id=jid,
                        payload={
                            "skill_id": skill_id,
                            "skill_version": u.version or version,
                            "chapter_index": u.chapter_index,
                        },
                    )
                    for u, jid in zip(units, job_ids, strict=True)
                ],
            )
        return job_ids

    def _complete(self, skill_id, version, stage, units, done, adapter) -> None:
        """Outputs to the store, then one transaction of set-based writes for the whole batch:
        artifacts, job rows, usage ledger, events."""
        if not done:
            return
        jobs, ledger = T["jobs"], T["usage_ledger"]
        now = utcnow()
        artifacts: dict[str, dict] = {}  # idempotency key -> row; same bytes, one row
        job_rows, ledger_rows, events = [], [], []
        retries = 0
        for i, job_id, outcome, secs in done:
            unit = units[i]
            blob = self.store.put_bytes(adapter.dump_json(outcome.output), "json")
            output = FileArtifact(
                "json",
                blob.path,
                blob.sha256,
                blob.size_bytes,
                "application/json",
                unit.chapter_index,
            )
            for f in [output, *outcome.files]:
                row = self._artifact_row(f, job_id, skill_id, unit.version or version)
                artifacts.setdefault(row["idempotency_key"], row)
            job_rows.append(
                {
                    "b_id": job_id,
                    "b_output": _blob_key(output),
                    "b_provider": outcome.provider,
                    "b_degraded": outcome.degraded,
                    "b_ms": int(secs * 1000),
                }
            )
            ledger_rows += self._ledger_rows(job_id, skill_id, outcome.usages)
            retries += len(outcome.retries)
            events += [
                self._event(
                    EventTopic.RUN_RETRIED,
                    stage=stage,
                    job_id=job_id,
                    error_code=r["error_code"],
                    payload=r,
                )
                for r in outcome.retries
            ]
            events += [
                self._event(
                    EventTopic.GATE_DEGRADED,
                    stage=Stage.GATE,
                    job_id=job_id,
                    error_code=d.get("error_code"),
                    payload=d,
                )
                for d in outcome.degradations
            ]
            events.append(
                self._event(
                    EventTopic.JOB_SUCCEEDED,
                    stage=stage,
                    job_id=job_id,
                    payload={
                        "skill_id": skill_id,
                        "skill_version": unit.version or version,
                        "chapter_index": unit.chapter_index,
                        "ms": int(secs * 1000),
                        "degraded": outcome.degraded,
                    },
                )
            )
        with self.engine.begin() as conn:
            ids = self._upsert_artifacts(conn, list(artifacts.values()))
            for row in job_rows:
                row["b_output"] = ids[row["b_output"]]
            conn.execute(
                update(jobs)
                .where(jobs.c.id == bindparam("b_id"))
                .values(
                    status=JobStatus.SUCCEEDED,
                    output_artifact_id=bindparam("b_output"),
                    provider=bindparam("b_provider"),
                    degraded=bindparam("b_degraded"),
                    duration_ms=bindparam("b_ms"),
                    finished_at=now,
                    updated_at=now,
                ),
                job_rows,
            )
            if ledger_rows:
                conn.execute(pg_insert(ledger).on_conflict_do_nothing(), ledger_rows)
            if retries:
                runs = T["render_runs"]
                conn.execute(
                    update(runs)
                    .where(runs.c.id == self.scope.run_id)
                    .values(retries=runs.c.retries + retries)
                )
            emit_many(conn, events)

    def _ledger_rows(self, job_id: uuid.UUID, skill_id: str, usages: list[Usage]) -> list[dict]:
        return [
            {
                "id": uuid.uuid4(),
                "tenant_id": self.scope.tenant_id,
                "project_id": self.scope.project_id,
                "trace_id": self.scope.trace_id,
                # per run: a degraded job recomputed later reuses its job row
                "idempotency_key": f"{job_id}:{self.scope.run_id}:{n}",
                "run_id": self.scope.run_id,
                "job_id": job_id,
                "skill_id": skill_id,
                "provider": u.provider,
                "model": u.model,
                "units": u.units,
                "unit": u.unit,
                "cost_usd": u.cost_usd,
                "status": u.status,
                "error_code": u.error_code,
            }
            for n, u in enumerate(usages)
        ]

    def _artifact_row(self, f: FileArtifact, job_id, skill_id: str, version: str) -> dict:
        return {
            "id": uuid.uuid4(),
            "tenant_id": self.scope.tenant_id,
            "project_id": self.scope.project_id,
            "trace_id": self.scope.trace_id,
            "idempotency_key": _blob_key(f),
            "novel_id": self.scope.novel_id,
            "chapter_index": f.chapter_index,
            "job_id": job_id,
            "kind": f.kind,
            "path": f.path,
            "sha256": f.sha256,
            "size_bytes": f.size_bytes,
            "mime": f.mime,
            "skill_id": skill_id,
            "skill_version": version,
            "meta": {},
        }

    @staticmethod
    def _upsert_artifacts(conn, rows: list[dict]) -> dict[str, uuid.UUID]:
        """Artifact rows keyed by content (one row per tenant and blob, ever); key -> id."""
        arts = T["artifacts"]
        stmt = pg_insert(arts).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "idempotency_key"], set_={"updated_at": utcnow()}
        ).returning(arts.c.idempotency_key, arts.c.id)
        return dict(conn.execute(stmt).all())

    def _fail(self, skill_id, version, stage, units, failed) -> None:
        jobs = T["jobs"]
        now = utcnow()
        with self.engine.begin() as conn:
            events, ledger_rows = [], []
            for i, job_id, exc in failed:
                err = classify(exc)
                code, detail = err.code, err.detail
                # the provider calls a failed unit made (an executor passes them on the error)
                ledger_rows += self._ledger_rows(job_id, skill_id, err.context.get("usages", []))
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == job_id)
                    .values(
                        status=JobStatus.FAILED,
                        error_code=code,
                        error_message=detail[:2000],
                        finished_at=now,
                        updated_at=now,
                    )
                )
                events.append(
                    self._event(
                        EventTopic.JOB_FAILED,
                        stage=stage,
                        job_id=job_id,
                        error_code=code,
                        error_message=detail[:2000],
                        payload={
                            "skill_id": skill_id,
                            "skill_version": units[i].version or version,
                            "chapter_index": units[i].chapter_index,
                        },
                    )
                )
            if ledger_rows:
                conn.execute(pg_insert(T["usage_ledger"]).on_conflict_do_nothing(), ledger_rows)
            emit_many(conn, events)
