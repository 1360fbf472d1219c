"""The read-only RAG routes: role checks and tenant scoping over HTTP."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from nf_gateway import routes_rag
from nf_gateway.app import create_app
from nf_gateway.deps import GatewayConfig
from nf_gateway.testing import login, seed_cast
from nf_services.rag import indexing
from tests.rag.conftest import load_novel

pytestmark = pytest.mark.pg


@pytest.fixture(scope="module")
def world(migrated_db_url, tmp_path_factory):
    from shared.db import get_engine
    from shared.storage import LocalArtifactStore

    engine = get_engine(migrated_db_url)
    root = tmp_path_factory.mktemp("rag-gw")
    store = LocalArtifactStore(root)
    cast = seed_cast(engine)
    novel = load_novel(engine, store, cast.a, cast.project, "zh_xiyouji.txt", 2)
    for v in indexing.versions_to_index(engine, cast.a, cast.project):
        indexing.index_version(engine, v, store=store, trace_id=uuid.uuid4().hex)
    app = create_app(GatewayConfig(migrated_db_url, str(root), 1 << 20))
    if not any(getattr(r, "path", "").endswith("/rag/search") for r in app.routes):
        app.include_router(routes_rag.router)
    with TestClient(app) as client:
        yield client, cast, novel


def test_search_is_role_checked_and_tenant_scoped(world):
    client, cast, novel = world
    chunk = novel.chunks[7]
    probe = chunk.text[len(chunk.text) // 2 - 12 : len(chunk.text) // 2 + 12]
    url = f"/v1/projects/{cast.a}/{cast.project}/rag/search"
    viewer = login(client, cast.email("viewer"))
    r = client.get(url, params={"q": probe, "k": 3, "novel": "zh-xiyouji"}, headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version_name"] == indexing.DEFAULT_VERSION_NAME
    assert probe in body["chunks"][0]["text"]
    assert {c["novel_id"] for c in body["chunks"]} == {str(novel.novel_id)}

    outsider = login(client, cast.email("other"))  # an editor of tenant b only
    r = client.get(url, params={"q": probe}, headers=outsider)
    assert r.status_code == 404 and r.json()["error_code"] == "NF-TENANCY-001"
    side = login(client, cast.email("sideeditor"))  # tenant a, but another project only
    assert client.get(url, params={"q": probe}, headers=side).status_code == 404
    assert client.get(url, params={"q": probe}).status_code == 401
    r = client.get(
        f"/v1/projects/{cast.b}/{cast.project}/rag/search", params={"q": probe}, headers=outsider
    )
    assert r.status_code == 404 and r.json()["error_code"] == "NF-RAG-001"  # nothing indexed


def test_versions_and_suggestions(world):
    client, cast, _ = world
    viewer = login(client, cast.email("viewer"))
    base = f"/v1/projects/{cast.a}/{cast.project}/rag"
    r = client.get(f"{base}/versions", headers=viewer)
    assert r.status_code == 200
    assert [(v["name"], v["status"]) for v in r.json()] == [
        (indexing.DEFAULT_VERSION_NAME, "active")
    ]
    r = client.get(f"{base}/suggestions", headers=viewer)
    assert r.status_code == 200 and r.json() == []
    r = client.get(f"{base}/suggestions", params={"status": "bogus"}, headers=viewer)
    assert r.status_code == 422
