"""The embedded default database: a real PostgreSQL 16 (with pgvector) from the `pgserver` wheel.

Used when NF_DATABASE_URL is not set, so a fresh machine needs no database server. The server
keeps running between commands (pgserver reuses a live server on the same data directory).
"""

from __future__ import annotations

from pathlib import Path

DB_NAME = "nf"
# Dagster's own storage gets its own database: its tables (runs, jobs, ...) would clash with ours.
DAGSTER_DB_NAME = "dagster"


def embedded_url(data_dir: Path, db_name: str = DB_NAME) -> str:
    """URL of `db_name` on the embedded server under data_dir (started and created if needed)."""
    import pgserver

    pgdata = data_dir / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pgdata), cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{db_name}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {db_name};")
    base = server.get_uri()  # postgresql://postgres:@/postgres?host=/socket/dir
    return base.replace("/postgres?", f"/{db_name}?", 1)
