"""Suite-wide fixtures: a real PostgreSQL for every test that needs one.

NF_TEST_PG_ADMIN_URL names a server where tests may create databases (CI: 127.0.0.1:5432).
Without it the embedded server (pgserver, under NF_DATA_DIR or data/) is started and used, so
the README's test command works on a machine with no database server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"

os.environ.setdefault("NF_MEDIA_WORKERS", "2")
if not os.environ.get("NF_TEST_PG_ADMIN_URL"):
    from shared.embedded_pg import embedded_url

    _data = Path(os.environ.get("NF_DATA_DIR", REPO / "data"))
    os.environ["NF_TEST_PG_ADMIN_URL"] = embedded_url(_data, "postgres")


def admin_url() -> str:
    from shared.db import normalize_url

    return normalize_url(os.environ["NF_TEST_PG_ADMIN_URL"])


def create_database(prefix: str = "nf_test") -> str:
    """A fresh, uniquely named database; returns its URL."""
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url()).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    from shared.db import get_engine

    get_engine.cache_clear()
    name = make_url(url).database
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def migrated_db_url() -> Iterator[str]:
    """A database at head, shared by the tests of one worker; NF_DATABASE_URL points at it."""
    from migrations import runner
    from shared.config import get_settings

    url = create_database()
    runner.upgrade(url, "head")
    old = os.environ.get("NF_DATABASE_URL")
    os.environ["NF_DATABASE_URL"] = url
    get_settings.cache_clear()
    yield url
    if old is None:
        os.environ.pop("NF_DATABASE_URL", None)
    else:
        os.environ["NF_DATABASE_URL"] = old
    get_settings.cache_clear()
    drop_database(url)


@pytest.fixture
def engine(migrated_db_url):
    from shared.db import get_engine

    return get_engine(migrated_db_url)


@pytest.fixture(scope="module")
def pg_dagster_instance(tmp_path_factory) -> Iterator:
    """A Dagster instance as deployed: PostgreSQL storage (a database of its own), the repo's
    dagster.yaml, a DAGSTER_HOME on disk (so step outputs are pickles under its storage/)."""
    import dagster as dg

    url = create_database("nf_dagster")
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    old = {k: os.environ.get(k) for k in ("NF_DAGSTER_PG_URL", "DAGSTER_HOME")}
    os.environ.update(NF_DAGSTER_PG_URL=url, DAGSTER_HOME=str(home))
    instance = dg.DagsterInstance.from_config(str(home))
    yield instance
    instance.dispose()
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    drop_database(url)
