"""The index audit on a seeded dataset of 100k jobs, and the same audit without an index."""

from __future__ import annotations

from sqlalchemy import Engine, text

from nf_services.governance import index_audit


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar() or 0)


def test_key_queries_use_indexes_on_100k_jobs(engine: Engine) -> None:
    jobs_before = _count(engine, "SELECT count(*) FROM jobs")
    report = index_audit.audit_indexes(engine, seed_jobs=100_000)
    assert report.passed, report.failures
    assert report.seeded and report.row_counts["jobs"] >= 100_000
    by_name = {q.name: q for q in report.queries}
    assert set(by_name) == {q.name for q in index_audit.KEY_QUERIES}
    for q in report.queries:  # every key query touches an index
        assert q.indexes, (q.name, q.nodes)
    assert "LockRows" in by_name["claim_jobs"].nodes
    # Rolled back: no scratch schema, no rows left behind.
    assert _count(engine, "SELECT count(*) FROM pg_namespace WHERE nspname = 'nf_index_audit'") == 0
    assert _count(engine, "SELECT count(*) FROM jobs") == jobs_before


def test_audit_fails_when_an_index_is_missing(engine: Engine) -> None:
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            conn.execute(text("DROP INDEX ix_jobs_status_created"))
            conn.execute(text("DROP INDEX ix_events_trace_id"))
            conn.execute(text("DROP INDEX ix_jobs_failed_finished"))
            report = index_audit.audit_connection(conn, seed_jobs=20_000)
        finally:
            trans.rollback()
    assert not report.passed
    failed = {q.name: q.seq_scans for q in report.queries if not q.passed}
    assert failed == {
        "claim_jobs": ["jobs"],
        "events_by_trace": ["events"],
        "observer_read_failures": ["jobs"],
    }
    # The indexes are back (the DROP was rolled back with the audit).
    assert (
        _count(engine, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_jobs_status_created'")
        == 1
    )


def test_live_mode_explains_the_real_tables(engine: Engine) -> None:
    report = index_audit.audit_indexes(engine, seed_jobs=0)
    assert not report.seeded and len(report.queries) == len(index_audit.KEY_QUERIES)
    # The test database is small: nothing reaches min_rows, so no scan can be blamed.
    assert report.passed
    assert all(q.nodes for q in report.queries)
