"""The backfill at revision 0002: counts, inheritance, idempotence, report and CLI."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from migrations import runner
from migrations.backfill import main, run_backfill

from .legacy import A1, A3, J1, J4, LEGACY_COUNTS, N1, N2, R3, RUN1, seed_legacy

pytestmark = pytest.mark.pg

ACME_NOVEL = str(uuid.UUID(int=0xACE))
ACME_TRACE = "a" * 32


@pytest.fixture
def p0_db(fresh_db):
    """Legacy rows at 0001, upgraded to 0002, plus rows a P0-era writer left half done."""
    runner.upgrade(fresh_db.url, "0001_baseline")
    engine = fresh_db.engine()
    seed_legacy(engine)
    runner.upgrade(fresh_db.url, "0002_p0")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO novels (id, slug, title, tenant_id, project_id, trace_id, "
                "partition_key, created_at) VALUES (:id, 'hongloumeng', '红楼梦', 'acme', "
                "'fantasy', :trace, 'acme.fantasy.hongloumeng', now())"
            ),
            {"id": ACME_NOVEL, "trace": ACME_TRACE},
        )
        conn.execute(
            text("INSERT INTO chapters (novel_id, index, title) VALUES (:n, 1, '第一回')"),
            {"n": ACME_NOVEL},
        )
        # Same tenant as the parent: project inherited. Other tenant: default project.
        conn.execute(
            text(
                "INSERT INTO execution_requests (novel_id, tenant_id, status, stage) VALUES "
                "(:n, 'acme', 'pending', 'submitted'), (:n, 'beta', 'pending', 'submitted')"
            ),
            {"n": ACME_NOVEL},
        )
    yield fresh_db, engine
    engine.dispose()


def test_backfill_fixes_legacy_rows_and_is_idempotent(p0_db) -> None:
    db, engine = p0_db
    report = run_backfill(engine, batch_size=2)

    expected_found = {**LEGACY_COUNTS, "chapters": 6, "execution_requests": 5}
    assert {t.table: t.found for t in report.tables} == expected_found
    assert {t.table: t.fixed for t in report.tables} == expected_found
    assert report.left == 0
    assert report.revision == "0002_p0"
    chapters = report.table("chapters").reasons
    assert chapters["tenant/project inherited from novels"] == 6
    assert chapters["created_at set to now()"] == 1
    jobs = report.table("jobs").reasons
    assert jobs["tenant/project inherited from render_runs"] == 3
    assert jobs["tenant/project set to default/default"] == 1  # J4 has no run
    assert jobs["idempotency_key set to legacy:<table>:<id>"] == 4
    assert report.table("novels").reasons["partition_key derived from tenant.project.slug"] == 2
    assert report.table("jobs").legacy_values == 4

    with engine.connect() as conn:

        def one(sql: str, **params):
            return conn.execute(text(sql), params).one()

        acme_chapter = one(
            "SELECT tenant_id, project_id, trace_id FROM chapters WHERE novel_id = :n", n=ACME_NOVEL
        )
        assert tuple(acme_chapter) == ("acme", "fantasy", ACME_TRACE)
        requests = dict(
            conn.execute(
                text("SELECT tenant_id, project_id FROM execution_requests WHERE novel_id = :n"),
                {"n": ACME_NOVEL},
            ).all()
        )
        assert requests == {"acme": "fantasy", "beta": "default"}
        run_trace = one("SELECT trace_id FROM render_runs WHERE id = :id", id=RUN1)[0]
        job = one("SELECT trace_id, idempotency_key, tenant_id FROM jobs WHERE id = :id", id=J1)
        assert tuple(job) == (run_trace, f"legacy:jobs:{J1}", "default")
        assert one("SELECT trace_id FROM artifacts WHERE id = :id", id=A1)[0] == run_trace
        a3 = one("SELECT created_at, updated_at, trace_id FROM artifacts WHERE id = :id", id=A3)
        assert a3.created_at is not None and a3.updated_at == a3.created_at
        assert len(a3.trace_id) == 32
        keys = dict(conn.execute(text("SELECT id::text, partition_key FROM novels")).all())
        assert keys[N1] == "default.default.xiyouji"
        assert keys[N2].startswith("default.default.pride-prejudice-")
        assert one("SELECT idempotency_key FROM execution_requests WHERE id = :id", id=R3)[0] == (
            f"legacy:execution_requests:{R3}"
        )
        assert one("SELECT tenant_id FROM jobs WHERE id = :id", id=J4)[0] == "default"

    again = run_backfill(engine)
    assert (again.found, again.fixed, again.left) == (0, 0, 0)

    data = json.loads(report.to_json())
    assert data["totals"] == {"found": sum(expected_found.values()),
                              "fixed": sum(expected_found.values()), "left": 0}  # fmt: skip
    markdown = report.to_markdown()
    assert "| chapters | 6 | 6 | 0 | 0 |" in markdown
    assert "before 0003_p1" in markdown  # no tenancy tables yet at 0002


def test_backfill_registers_tenancies_once_they_exist(p0_db) -> None:
    db, engine = p0_db
    run_backfill(engine)
    runner.upgrade(db.url, "0003_p1")  # registers default + acme/fantasy + beta/default
    with engine.connect() as conn:
        projects = set(conn.execute(text("SELECT tenant_id, id FROM projects")).all())
    assert projects == {("default", "default"), ("acme", "fantasy"), ("beta", "default")}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO novels (slug, title, tenant_id, project_id, trace_id, "
                          "partition_key) VALUES ('x', 'X', 'gamma', 'main', :t, 'gamma.main.x')"),
                     {"t": "b" * 32})  # fmt: skip
    report = run_backfill(engine)
    assert report.tenancies_registered == {"tenants created": 1, "projects created": 1}
    assert report.left == 0
    assert runner.upgrade(db.url) == runner.head_revision()


def test_backfill_cli_writes_reports(p0_db, tmp_path) -> None:
    db, _engine = p0_db
    assert main(["--report-dir", str(tmp_path), "--url", db.url, "--batch-size", "3"]) == 0
    data = json.loads((tmp_path / "backfill-report.json").read_text(encoding="utf-8"))
    assert data["totals"]["left"] == 0 and data["totals"]["fixed"] > 0
    assert (tmp_path / "backfill-report.md").read_text(encoding="utf-8").startswith("# Backfill")
    lines = (tmp_path / "backfill-legacy-values.jsonl").read_text(encoding="utf-8").splitlines()
    exported = [json.loads(line) for line in lines]
    assert {
        "table": "jobs",
        "id": J4,
        "legacy_values": {"stage": "embed", "status": "zzz", "error_code": None},
    } in exported
    assert len(exported) == 3 + 2 + 4 + 5  # requests, runs, jobs, events converted at P0


def test_backfill_needs_p0(fresh_db) -> None:
    runner.upgrade(fresh_db.url, "0001_baseline")
    engine = fresh_db.engine()
    try:
        with pytest.raises(RuntimeError, match="0002_p0"):
            run_backfill(engine)
        with pytest.raises(ValueError):
            run_backfill(engine, tenant="Not A Slug")
    finally:
        engine.dispose()
