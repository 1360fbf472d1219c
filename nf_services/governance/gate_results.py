"""Recording SKILL_16/SKILL_18 outcomes per run and chapter into `gate_results`.

The asset checks call `record_check_outcomes` with their per-chapter verdicts; the promotion gate
(promotion_gate.py) and the A/B metrics (experiment_metrics.py) read pass rates back by skill
version, provider or experiment unit. A re-run of a check for the same run overwrites its rows
(upsert on run, gate, chapter), so retries do not inflate the sample.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.errors import NFError
from shared.models import Base
from shared.models.gates import GATES

T = Base.metadata.tables

CONTENT_GATE = "SKILL_16"
MEDIA_GATE = "SKILL_18"


@dataclass(frozen=True)
class ChapterGateOutcome:
    """One chapter's verdict (chapter_index None: a verdict on the whole run)."""

    chapter_index: int | None
    passed: bool
    metrics: Mapping[str, float] = field(default_factory=dict)


def _clean(metrics: Mapping[str, Any]) -> dict[str, float]:
    # JSON has no NaN/inf; a metric that is not a finite number is not a measurement.
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, bool):
            out[str(k)] = float(v)
        elif isinstance(v, int | float) and math.isfinite(v):
            out[str(k)] = float(v)
    return out


def record_gate_results(
    engine: Engine,
    *,
    tenant_id: str,
    project_id: str,
    trace_id: str,
    run_id: uuid.UUID,
    gate: str,
    outcomes: Iterable[ChapterGateOutcome],
    novel_id: uuid.UUID | None = None,
    gate_version: str | None = None,
) -> int:
    """Upsert one row per outcome; returns how many were written."""
    if gate not in GATES:
        raise NFError("NF-INPUT-001", f"gate must be one of {', '.join(GATES)}, not {gate!r}")
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "project_id": project_id,
            "trace_id": trace_id,
            "run_id": run_id,
            "novel_id": novel_id,
            "chapter_index": o.chapter_index,
            "gate": gate,
            "gate_version": gate_version,
            "passed": bool(o.passed),
            "metrics": _clean(o.metrics),
        }
        for o in outcomes
    ]
    if not rows:
        return 0
    table = T["gate_results"]
    stmt = pg_insert(table).values(rows)
    stmt = stmt.on_conflict_do_update(
        constraint="uq_gate_results_run_gate_chapter",
        set_={
            "passed": stmt.excluded.passed,
            "metrics": stmt.excluded.metrics,
            "gate_version": stmt.excluded.gate_version,
            "trace_id": stmt.excluded.trace_id,
            "updated_at": now,
        },
    )
    with engine.begin() as conn:
        conn.execute(stmt)
    return len(rows)


def record_check_outcomes(
    engine: Engine,
    *,
    dagster_run_id: str,
    gate: str,
    outcomes: Iterable[ChapterGateOutcome],
    gate_version: str | None = None,
) -> int:
    """`record_gate_results` for an asset check: scope, trace and novel come from the run's
    render_runs row (written by the recorder). Returns 0 when the run has no such row (a check
    evaluated outside the pipeline has nothing to attribute its outcome to)."""
    runs = T["render_runs"]
    with engine.connect() as conn:
        run = conn.execute(
            select(
                runs.c.id, runs.c.tenant_id, runs.c.project_id, runs.c.trace_id, runs.c.novel_id
            ).where(runs.c.dagster_run_id == dagster_run_id)
        ).first()
    if run is None:
        return 0
    return record_gate_results(
        engine,
        tenant_id=run.tenant_id,
        project_id=run.project_id,
        trace_id=run.trace_id,
        run_id=run.id,
        novel_id=run.novel_id,
        gate=gate,
        outcomes=outcomes,
        gate_version=gate_version,
    )
