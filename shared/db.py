"""Database engine and sessions.

Dagster's storage and ours share one URL form: `postgresql+psycopg2://`. SQLAlchemy 2.1 maps a
bare `postgresql://` to psycopg 3, which breaks Dagster's `NOTIFY` statements, so every URL is
normalised here before use.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine, text

from shared.config import get_settings


def normalize_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def database_url() -> str:
    """The configured URL, or the embedded server's (started on first use)."""
    settings = get_settings()
    if settings.database_url:
        return normalize_url(settings.database_url)
    from shared.embedded_pg import embedded_url

    return normalize_url(embedded_url(settings.data_dir))


def dagster_database_url() -> str:
    """Dagster's storage URL: NF_DAGSTER_PG_URL, else a `dagster` database beside ours."""
    import os

    if os.environ.get("NF_DAGSTER_PG_URL"):
        return normalize_url(os.environ["NF_DAGSTER_PG_URL"])
    settings = get_settings()
    if settings.database_url:
        from sqlalchemy.engine import make_url

        return (
            make_url(normalize_url(settings.database_url))
            .set(database=f"{make_url(settings.database_url).database}_dagster")
            .render_as_string(hide_password=False)
        )
    from shared.embedded_pg import DAGSTER_DB_NAME, embedded_url

    return normalize_url(embedded_url(settings.data_dir, DAGSTER_DB_NAME))


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    # Pre-ping: a pooled connection a restart or an operator's pg_terminate_backend closed is
    # replaced at checkout instead of failing the next statement (a local round trip, ~0.1 ms).
    return create_engine(
        url or database_url(),
        pool_pre_ping=True,
        pool_recycle=1800,
        pool_size=10,
        max_overflow=20,
    )


def sync_error_codes(engine: Engine) -> int:
    """Make the `error_codes` reference table equal to the registry (FK target of error_code)."""
    from shared.errors import REGISTRY

    rows = [
        {
            "code": c.code,
            "domain": c.domain.value,
            "retryable": c.retryable,
            "http_status": c.http_status,
            "message": c.message,
        }
        for c in REGISTRY.values()
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO error_codes (code, domain, retryable, http_status, message) "
                "VALUES (:code, :domain, :retryable, :http_status, :message) "
                "ON CONFLICT (code) DO UPDATE SET domain = EXCLUDED.domain, "
                "retryable = EXCLUDED.retryable, http_status = EXCLUDED.http_status, "
                "message = EXCLUDED.message"
            ),
            rows,
        )
    return len(rows)


def ensure_database(url: str) -> None:
    """Create the database named in `url` if the server does not have it yet."""
    from sqlalchemy.engine import make_url

    target = make_url(normalize_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()
