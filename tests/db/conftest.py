"""Fixtures for schema tests: a fresh, uniquely named database on a real PostgreSQL.

NF_TEST_PG_ADMIN_URL names a server and a database we may connect to for CREATE/DROP DATABASE
(default: postgres on 127.0.0.1:5432, trust auth). Tests are skipped when it is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from shared.db import normalize_url

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    return normalize_url(os.environ.get("NF_TEST_PG_ADMIN_URL", DEFAULT_ADMIN_URL))


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    engine = create_engine(admin_url(), isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {admin_url()}: {exc.orig}")
    yield engine
    engine.dispose()


class TempDatabase:
    """A database that exists for one test (or module); `url` uses psycopg2."""

    def __init__(self, admin: Engine) -> None:
        self.admin = admin
        self.name = f"nf_test_{uuid.uuid4().hex[:12]}"
        self.url = (
            make_url(admin_url()).set(database=self.name).render_as_string(hide_password=False)
        )

    def create(self) -> TempDatabase:
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    def engine(self) -> Engine:
        """No pooling: an idle pooled connection would hold up CREATE INDEX CONCURRENTLY."""
        return create_engine(self.url, poolclass=pool.NullPool)


@pytest.fixture
def fresh_db(pg_admin: Engine) -> Iterator[TempDatabase]:
    db = TempDatabase(pg_admin).create()
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture(scope="module")
def head_db(pg_admin: Engine) -> Iterator[TempDatabase]:
    """One database at head for a module of tests that roll their writes back."""
    from migrations import runner

    db = TempDatabase(pg_admin).create()
    try:
        runner.upgrade(db.url)
        yield db
    finally:
        db.drop()
