"""Legacy (revision 0001) rows for migration and backfill tests, and table checksums."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, inspect, text

N1 = "11111111-1111-1111-1111-111111111111"
N2 = "22222222-2222-2222-2222-222222222222"
R1 = "a1111111-1111-1111-1111-111111111111"
R2 = "a2222222-2222-2222-2222-222222222222"
R3 = "a3333333-3333-3333-3333-333333333333"
RUN1 = "b1111111-1111-1111-1111-111111111111"
RUN2 = "b2222222-2222-2222-2222-222222222222"
J1 = "c1111111-1111-1111-1111-111111111111"
J2 = "c2222222-2222-2222-2222-222222222222"
J3 = "c3333333-3333-3333-3333-333333333333"
J4 = "c4444444-4444-4444-4444-444444444444"
A1 = "d1111111-1111-1111-1111-111111111111"
A2 = "d2222222-2222-2222-2222-222222222222"
A3 = "d3333333-3333-3333-3333-333333333333"

LEGACY_SQL = f"""
INSERT INTO novels (id, slug, title, language, source_path, owner_name) VALUES
  ('{N1}', 'xiyouji', '西游记', 'zh', 'corpus/xiyouji.txt', 'alice'),
  ('{N2}', 'Pride & Prejudice', 'Pride and Prejudice', 'en', NULL, NULL);
INSERT INTO chapters (novel_id, index, title, char_count) VALUES
  ('{N1}', 1, '第一回', 5000), ('{N1}', 2, '第二回', 4800), ('{N1}', 3, '第三回', 5100),
  ('{N2}', 1, 'Chapter 1', 3000);
INSERT INTO chapters (novel_id, index, title, char_count, created_at) VALUES
  ('{N2}', 2, 'Chapter 2', 3100, NULL);
INSERT INTO execution_requests
  (id, novel_id, partition_key, status, stage, params, error_code, error) VALUES
  ('{R1}', '{N1}', 'xiyouji', 'done', 'completed', NULL, NULL, NULL),
  ('{R2}', '{N2}', 'pride', 'error', 'tts', '{{"voice": "a"}}', 'timeout', 'provider timed out'),
  ('{R3}', NULL, NULL, 'weird', NULL, '{{}}', NULL, NULL);
INSERT INTO render_runs (id, request_id, partition_key, dagster_run_id, status, stage, error_code)
VALUES
  ('{RUN1}', '{R1}', 'xiyouji', 'dag-1', 'running', 'images', NULL),
  ('{RUN2}', '{R2}', 'pride', 'dag-2', 'failed', 'video', 'NF-PROVIDER-003');
INSERT INTO jobs (id, run_id, skill_id, status, stage, attempt, worker_name, error_code, error)
VALUES
  ('{J1}', '{RUN1}', 'SKILL_01', 'done', 'ingest', 1, 'w1', NULL, NULL),
  ('{J2}', '{RUN1}', 'SKILL_02', 'error', 'chapter_split', 2, 'w2', 'BOOM', 'exploded'),
  ('{J3}', '{RUN2}', 'SKILL_21', 'failed', NULL, NULL, NULL, NULL, NULL),
  ('{J4}', NULL, 'SKILL_03', 'zzz', 'embed', 1, NULL, NULL, NULL);
INSERT INTO artifacts (id, job_id, novel_id, kind, path, sha256, size_bytes) VALUES
  ('{A1}', '{J1}', '{N1}', 'text', 'xiyouji/ch1.txt', 'abc', 10),
  ('{A2}', NULL, '{N2}', 'image', 'pride/p1.png', NULL, NULL);
INSERT INTO artifacts (id, job_id, novel_id, kind, path, created_at) VALUES
  ('{A3}', NULL, NULL, 'log', 'misc/run.log', NULL);
INSERT INTO events (topic, payload, published_at) VALUES
  ('job_claimed', '{{"job": "{J1}"}}', NULL),
  ('job.done', '{{"job": "{J1}"}}', '2024-01-02T03:04:05.123456+00:00'),
  ('custom_thing', '{{}}', NULL),
  ('run_finished', '{{"run": "{RUN1}"}}', '2024-01-02T03:04:05+00:00'),
  ('request_created', NULL, NULL);
"""

LEGACY_COUNTS = {
    "novels": 2,
    "chapters": 5,
    "execution_requests": 3,
    "render_runs": 2,
    "jobs": 4,
    "artifacts": 3,
    "events": 5,
}
CORE_TABLES = tuple(LEGACY_COUNTS)


def seed_legacy(engine: Engine) -> None:
    with engine.begin() as conn:
        for statement in LEGACY_SQL.split(";"):
            if statement.strip():
                conn.execute(text(statement))


def columns(conn: Connection, table: str) -> list[str]:
    return sorted(c["name"] for c in inspect(conn).get_columns(table))


def checksum(conn: Connection, table: str, cols: list[str]) -> str:
    """md5 over the rows' text form of `cols`, order-independent."""
    select = ", ".join(f'"{c}"' for c in cols)
    return conn.execute(
        text(
            f"SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) "
            f"FROM (SELECT {select} FROM {table}) AS r"
        )
    ).scalar_one()


def snapshot(engine: Engine, cols: dict[str, list[str]] | None = None) -> dict[str, tuple]:
    """table -> (row count, checksum) over the given columns (default: all columns)."""
    out = {}
    with engine.connect() as conn:
        for table in CORE_TABLES:
            use = cols[table] if cols else columns(conn, table)
            count = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            out[table] = (count, checksum(conn, table, use))
    return out
