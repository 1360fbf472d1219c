"""Migrations on a real PostgreSQL: up/down/up, legacy data through every step, models == head."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import OperationalError

import shared.models
from migrations import runner
from migrations.backfill import run_backfill
from shared.errors import REGISTRY

from .legacy import CORE_TABLES, J4, LEGACY_COUNTS, N1, R2, R3, columns, seed_legacy, snapshot

pytestmark = pytest.mark.pg


def _catalog(engine: Engine) -> dict[str, dict]:
    """Everything PostgreSQL knows about our schema, in comparable text form."""
    queries = {
        "columns": (
            "SELECT table_name || '.' || column_name, "
            "concat_ws(' ', udt_name, is_nullable, column_default, is_identity, "
            "identity_generation) "
            "FROM information_schema.columns WHERE table_schema = 'public' "
            f"AND table_name <> '{runner.VERSION_TABLE}'"
        ),
        "constraints": (
            "SELECT conrelid::regclass::text || '.' || conname, "
            "concat_ws(' ', contype, pg_get_constraintdef(oid), convalidated) "
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
            f"AND conrelid::regclass::text <> '{runner.VERSION_TABLE}' AND contype <> 'n'"
        ),
        "indexes": (
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            f"AND tablename <> '{runner.VERSION_TABLE}'"
        ),
        "enums": (
            "SELECT t.typname, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) "
            "FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
            "WHERE t.typnamespace = 'public'::regnamespace GROUP BY t.typname"
        ),
    }
    with engine.connect() as conn:
        return {k: dict(conn.execute(text(q)).all()) for k, q in queries.items()}


def _diff(a: dict, b: dict) -> dict[str, tuple]:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def test_empty_database_up_down_up(fresh_db) -> None:
    head = runner.head_revision()
    assert runner.upgrade(fresh_db.url) == head
    assert runner.schema_diff(fresh_db.url) == []

    assert runner.downgrade(fresh_db.url, "base") is None
    engine = fresh_db.engine()
    try:
        catalog = _catalog(engine)
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names()) - {runner.VERSION_TABLE}
        assert tables == set()
        assert catalog["enums"] == {}
    finally:
        engine.dispose()

    assert runner.upgrade(fresh_db.url) == head
    assert runner.schema_diff(fresh_db.url) == []


def test_head_equals_models_in_the_catalog(pg_admin, fresh_db) -> None:
    """What autogenerate cannot see (CHECKs, partial-index predicates, enum values, defaults,
    constraint validity) must match too: compare against a database built from the models."""
    from .conftest import TempDatabase

    runner.upgrade(fresh_db.url)
    reference = TempDatabase(pg_admin).create()
    migrated, built = fresh_db.engine(), reference.engine()
    try:
        shared.models.Base.metadata.create_all(built)
        expected, actual = _catalog(built), _catalog(migrated)
        for part in expected:
            assert _diff(expected[part], actual[part]) == {}, part
        enums = {k: v.split(",") for k, v in actual["enums"].items()}
        assert enums == {
            name: [m.value for m in enum] for name, enum in shared.models.PG_ENUMS.items()
        }
    finally:
        migrated.dispose()
        built.dispose()
        reference.drop()


def test_error_codes_equal_the_registry_at_head(fresh_db) -> None:
    runner.upgrade(fresh_db.url)
    engine = fresh_db.engine()
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT code, http_status, retryable FROM error_codes")).all()
    finally:
        engine.dispose()
    assert {r.code: (r.http_status, r.retryable) for r in rows} == {
        c.code: (c.http_status, c.retryable) for c in REGISTRY.values()
    }


def test_legacy_rows_survive_every_step(fresh_db) -> None:
    url, engine = fresh_db.url, fresh_db.engine()
    try:
        runner.upgrade(url, "0001_baseline")
        seed_legacy(engine)
        legacy = snapshot(engine)

        # P0 converts, and its downgrade gives back exactly the legacy rows.
        runner.upgrade(url, "0002_p0")
        with engine.connect() as conn:
            r2 = conn.execute(
                text("SELECT status::text, stage::text, error_code, legacy_values "
                     "FROM execution_requests WHERE id = :id"), {"id": R2}
            ).one()  # fmt: skip
            r3 = conn.execute(
                text("SELECT status::text, stage::text, error_code FROM execution_requests "
                     "WHERE id = :id"), {"id": R3}
            ).one()  # fmt: skip
            events = dict(conn.execute(text("SELECT id, topic FROM events")).all())
            p0_columns = {t: columns(conn, t) for t in CORE_TABLES}
        assert r2 == ("failed", "narrate", "NF-INTERNAL-000",
                      {"status": "error", "stage": "tts", "error_code": "timeout"})  # fmt: skip
        assert r3 == ("failed", "failed", "NF-INTERNAL-000")  # unknown status kept in legacy
        assert events[1] == "job.claimed" and events[3] == "run.stage_changed"  # 3: unmapped
        runner.downgrade(url, "0001_baseline")
        assert snapshot(engine) == legacy

        runner.upgrade(url, "0002_p0")
        assert run_backfill(engine).left == 0
        assert runner.upgrade(url) == runner.head_revision()
        assert run_backfill(engine).fixed == 0

        with engine.connect() as conn:
            kept = {t: sorted(set(columns(conn, t)) & set(p0_columns[t])) for t in CORE_TABLES}
        at_head = snapshot(engine, kept)
        assert {t: n for t, (n, _sum) in at_head.items()} == LEGACY_COUNTS

        runner.downgrade(url, "0002_p0")
        assert snapshot(engine, kept) == at_head
        runner.upgrade(url)
        assert snapshot(engine, kept) == at_head

        # All the way back to the legacy shape: every row is still there.
        runner.downgrade(url, "0001_baseline")
        assert {t: n for t, (n, _sum) in snapshot(engine).items()} == LEGACY_COUNTS
        with engine.connect() as conn:
            owner = conn.execute(
                text("SELECT title, slug FROM novels WHERE id = :id"), {"id": N1}
            ).one()
        assert owner == ("西游记", "xiyouji")
    finally:
        engine.dispose()


def test_p2_refuses_until_backfilled(fresh_db) -> None:
    url, engine = fresh_db.url, fresh_db.engine()
    try:
        runner.upgrade(url, "0001_baseline")
        seed_legacy(engine)
        runner.upgrade(url, "0003_p1")

        with pytest.raises(RuntimeError, match=r"^\[NF-TENANCY-002\]") as refused:
            runner.upgrade(url)
        message = str(refused.value)
        for table, n in LEGACY_COUNTS.items():
            assert f"{table}: {n} rows lack tenant_id/project_id" in message
        assert "nf db backfill" in message
        assert runner.current(url) == "0003_p1"

        run_backfill(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE jobs SET project_id = NULL WHERE id = :id"), {"id": J4})
            conn.execute(
                text("UPDATE novels SET tenant_id = 'Not A Slug' WHERE id = :id"), {"id": N1}
            )
        with pytest.raises(RuntimeError, match=r"^\[NF-TENANCY-002\]") as refused:
            runner.upgrade(url)
        message = str(refused.value)
        assert "jobs: 1 rows lack tenant_id/project_id" in message
        assert "novels: 1 rows point at an unregistered tenant/project" in message
        assert "chapters" not in message

        # The backfill repairs the NULL but cannot invent a tenant for an invalid slug.
        report = run_backfill(engine)
        assert report.table("jobs").fixed == 1 and report.table("novels").left == 1
        with engine.begin() as conn:
            conn.execute(text("UPDATE novels SET tenant_id = 'default' WHERE id = :id"), {"id": N1})
        assert runner.upgrade(url) == runner.head_revision()
    finally:
        engine.dispose()


def test_p2_fails_fast_on_a_lock_and_resumes(fresh_db, monkeypatch) -> None:
    """A long transaction on a table makes P2 give up at once (lock_timeout) instead of queueing
    every other query behind it; what was done stays done and a re-run finishes the rest."""
    from migrations import ddl

    monkeypatch.setattr(ddl, "LOCK_TIMEOUT", "200ms")
    url, engine = fresh_db.url, fresh_db.engine()
    try:
        runner.upgrade(url, "0001_baseline")
        seed_legacy(engine)
        runner.upgrade(url, "0002_p0")
        run_backfill(engine)
        runner.upgrade(url, "0003_p1")

        blocker = engine.connect()
        blocking = blocker.begin()
        blocker.execute(text("SELECT count(*) FROM artifacts"))  # holds ACCESS SHARE
        try:
            with pytest.raises(OperationalError, match="lock timeout"):
                runner.upgrade(url, "0004_p2")
        finally:
            blocking.rollback()
            blocker.close()
        assert runner.current(url) == "0003_p1"
        with engine.connect() as conn:
            nullable = {c["name"]: c["nullable"] for c in inspect(conn).get_columns("novels")}
        assert nullable["tenant_id"] is False  # tables before artifacts were already tightened

        assert runner.upgrade(url, "0004_p2") == "0004_p2"
        with engine.connect() as conn:
            leftovers = conn.execute(
                text("SELECT conname FROM pg_constraint WHERE conname LIKE '%\\_nn'")
            ).all()
        assert leftovers == []
    finally:
        engine.dispose()
