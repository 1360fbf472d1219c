"""A live gateway on 127.0.0.1 over the worker's migrated database, and a cast of tenants and
users (names carry a per-session suffix, so other tests can share the database)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from nf_gateway.app import create_app
from nf_gateway.deps import GatewayConfig
from nf_gateway.limits import LoginThrottle
from nf_gateway.server import serve_in_thread
from nf_gateway.testing import Cast, login, seed_cast

UPLOAD_LIMIT = 256 * 1024


@pytest.fixture(scope="session")
def gateway_engine(migrated_db_url):
    from shared.db import get_engine

    return get_engine(migrated_db_url)


@pytest.fixture(scope="session")
def artifact_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


def per_account_throttle() -> LoginThrottle:
    """The login throttle of a test gateway: per account only (every test client is 127.0.0.1)."""
    return LoginThrottle(
        max_per_account=10, max_per_client=10**9, window=900.0, concurrency=2, queue_max=64
    )


@pytest.fixture(scope="session")
def gateway_url(migrated_db_url, artifact_root):
    app = create_app(GatewayConfig(migrated_db_url, str(artifact_root), UPLOAD_LIMIT))
    # Every test (and the fuzzer's random logins) comes from 127.0.0.1: the per-address login
    # throttle would lock the whole session out. Throttling is tested on a server of its own
    # (test_gateway_abuse.py); here only the per-account limit applies.
    app.state.login_throttle = per_account_throttle()
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="session")
def cast(gateway_engine) -> Cast:
    return seed_cast(gateway_engine)


@pytest.fixture(scope="session")
def client(gateway_url):
    with httpx.Client(base_url=gateway_url, timeout=60) as c:
        yield c


@pytest.fixture(scope="session")
def auth(client, cast) -> dict[str, dict[str, str]]:
    """Authorization headers per cast member."""
    return {who: login(client, cast.email(who)) for who in cast.emails}
