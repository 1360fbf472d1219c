"""A tenant of its own per test (the migrated database is shared by the session), its people
with their roles, and helpers that seed runs, jobs, gate outcomes and evaluations directly."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert, text

from nf_services.governance.gate_results import ChapterGateOutcome, record_gate_results
from shared.models import Base

T = Base.metadata.tables
ROLES = ("owner", "owner2", "editor", "viewer")


def trace() -> str:
    return uuid.uuid4().hex


@dataclass
class World:
    engine: Engine
    tenant: str
    project: str
    users: dict[str, str] = field(default_factory=dict)  # name -> email

    def email(self, who: str) -> str:
        return self.users[who]

    # -- pipeline rows ------------------------------------------------------------------
    def novel(self, slug: str | None = None) -> tuple[uuid.UUID, str]:
        slug = slug or f"n{uuid.uuid4().hex[:8]}"
        key = f"{self.tenant}.{self.project}.{slug}"
        nid = uuid.uuid4()
        with self.engine.begin() as conn:
            conn.execute(
                insert(T["novels"]).values(
                    id=nid,
                    tenant_id=self.tenant,
                    project_id=self.project,
                    trace_id=trace(),
                    slug=slug,
                    title=slug,
                    partition_key=key,
                )
            )
        return nid, key

    def run(self, novel_id: uuid.UUID | None = None) -> uuid.UUID:
        rid = uuid.uuid4()
        with self.engine.begin() as conn:
            conn.execute(
                insert(T["render_runs"]).values(
                    id=rid,
                    tenant_id=self.tenant,
                    project_id=self.project,
                    trace_id=trace(),
                    novel_id=novel_id,
                    dagster_run_id=str(uuid.uuid4()),
                    status="succeeded",
                    stage="done",
                )
            )
        return rid

    def job(
        self,
        run_id: uuid.UUID | None,
        novel_id: uuid.UUID | None,
        chapter: int | None,
        skill: str,
        version: str = "1.0.0",
        *,
        status: str = "succeeded",
        error_code: str | None = None,
        provider: str | None = "offline",
        duration_ms: int | None = 1000,
        finished_at: datetime | None = None,
        cost: list[float] | None = None,
    ) -> uuid.UUID:
        jid = uuid.uuid4()
        finished = finished_at or datetime.now(UTC)
        with self.engine.begin() as conn:
            conn.execute(
                insert(T["jobs"]).values(
                    id=jid,
                    tenant_id=self.tenant,
                    project_id=self.project,
                    trace_id=trace(),
                    idempotency_key=f"job:{jid}",
                    run_id=run_id,
                    novel_id=novel_id,
                    chapter_index=chapter,
                    skill_id=skill,
                    skill_version=version,
                    status=status,
                    stage="render",
                    provider=provider,
                    duration_ms=duration_ms,
                    error_code=error_code or ("NF-SKILL-001" if status == "failed" else None),
                    started_at=finished,
                    finished_at=finished,
                    created_at=finished,
                    updated_at=finished,
                )
            )
            for n, c in enumerate(cost or []):
                conn.execute(
                    insert(T["usage_ledger"]).values(
                        id=uuid.uuid4(),
                        tenant_id=self.tenant,
                        project_id=self.project,
                        trace_id=trace(),
                        idempotency_key=f"{jid}:{n}",
                        run_id=run_id,
                        job_id=jid,
                        skill_id=skill,
                        provider=provider or "offline",
                        units=1.0,
                        unit="call",
                        cost_usd=Decimal(str(c)),
                        created_at=finished,
                    )
                )
        return jid

    def gate(
        self,
        run_id: uuid.UUID,
        novel_id: uuid.UUID | None,
        gate: str,
        outcomes: list[tuple[int | None, bool]] | list[ChapterGateOutcome],
    ) -> None:
        outs = [
            o if isinstance(o, ChapterGateOutcome) else ChapterGateOutcome(o[0], o[1])
            for o in outcomes
        ]
        record_gate_results(
            self.engine,
            tenant_id=self.tenant,
            project_id=self.project,
            trace_id=trace(),
            run_id=run_id,
            novel_id=novel_id,
            gate=gate,
            outcomes=outs,
        )

    def candidate_runs(
        self,
        skill: str,
        version: str,
        chapters: int,
        *,
        content_fail: int = 0,
        media_fail: int = 0,
        per_run: int = 10,
    ) -> None:
        """Runs that used `skill@version` on `chapters` chapters, with that many gate failures."""
        done = 0
        while done < chapters:
            nid, _ = self.novel()
            rid = self.run(nid)
            n = min(per_run, chapters - done)
            outs16, outs18 = [], []
            for i in range(n):
                self.job(rid, nid, i, skill, version)
                outs16.append((i, done + i >= content_fail))
                outs18.append((i, done + i >= media_fail))
            self.gate(rid, nid, "SKILL_16", outs16)
            self.gate(rid, nid, "SKILL_18", outs18)
            done += n

    def set_active(self, skill: str, version: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(T["skill_versions"]).values(
                    id=uuid.uuid4(),
                    tenant_id=self.tenant,
                    project_id=self.project,
                    trace_id=trace(),
                    skill_id=skill,
                    version=version,
                    status="active",
                )
            )

    def governance_config(self, **policy: object) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE projects SET config = jsonb_set(config, '{governance}', "
                    "CAST(:p AS jsonb)) WHERE tenant_id = :t AND id = :pr"
                ),
                {"p": json.dumps(policy), "t": self.tenant, "pr": self.project},
            )


@pytest.fixture
def world(engine: Engine) -> World:
    tenant = f"gov-{uuid.uuid4().hex[:10]}"
    w = World(engine, tenant, "main")
    roles = {"owner": "owner", "owner2": "owner", "editor": "editor", "viewer": "viewer"}
    with engine.begin() as conn:
        conn.execute(insert(T["tenants"]).values(id=tenant, name=tenant))
        conn.execute(insert(T["projects"]).values(tenant_id=tenant, id="main", name="main"))
        for who in [*roles, "outsider", "operator"]:
            uid = uuid.uuid4()
            email = f"{who}@{tenant}.example"
            conn.execute(
                insert(T["users"]).values(
                    id=uid, email=email, password_hash="x", is_operator=who == "operator"
                )
            )
            if who in roles:
                conn.execute(
                    insert(T["memberships"]).values(
                        id=uuid.uuid4(),
                        user_id=uid,
                        tenant_id=tenant,
                        project_id=None,
                        role=roles[who],
                    )
                )
            w.users[who] = email
    return w
