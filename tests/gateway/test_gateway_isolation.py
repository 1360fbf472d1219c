"""Tenant isolation: every endpoint tried with another tenant's names and ids answers 404 (or
403 for a role too weak) and changes nothing; underneath, row-level security hides other
tenants' rows from a query that forgot its filter."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import ProgrammingError

from nf_gateway.testing import ALL_WRITE_TABLES, counts, upload
from nf_services import submissions
from shared.models import TENANT_TABLES, Base
from shared.storage import LocalArtifactStore

pytestmark = pytest.mark.pg

T = Base.metadata.tables


@pytest.fixture(scope="module")
def theirs(client, cast, auth, gateway_engine, artifact_root):
    """Tenant b's novel, request, chapter, artifact, API token."""
    assert upload(client, auth["other"], cast.b, cast.project, "secret").status_code == 201
    req = client.post(
        f"/v1/projects/{cast.b}/{cast.project}/requests",
        json={"novel": "secret"},
        headers={**auth["other"], "Idempotency-Key": "theirs"},
    ).json()
    blob = LocalArtifactStore(artifact_root).put_bytes(b"their private video", "mp4")
    chapter_id, artifact_id = uuid.uuid4(), uuid.uuid4()
    with gateway_engine.begin() as conn:
        conn.execute(
            insert(T["chapters"]).values(
                id=chapter_id,
                tenant_id=cast.b,
                project_id=cast.project,
                trace_id=req["trace_id"],
                novel_id=req["novel_id"],
                index=1,
                title="One",
            )
        )
        conn.execute(
            insert(T["artifacts"]).values(
                id=artifact_id,
                tenant_id=cast.b,
                project_id=cast.project,
                trace_id=req["trace_id"],
                idempotency_key=f"blob:{blob.sha256}:mp4",
                novel_id=req["novel_id"],
                kind="mp4",
                path=blob.path,
                sha256=blob.sha256,
                size_bytes=blob.size_bytes,
                mime="video/mp4",
            )
        )
    token = client.post("/v1/auth/tokens", json={"name": "theirs"}, headers=auth["other"]).json()
    return {"request": req, "chapter": chapter_id, "artifact": artifact_id, "token": token}


def cross_tenant_calls(cast, theirs):
    b, p = cast.b, cast.project
    fb = {"target_kind": "artifact", "target_id": str(theirs["artifact"]), "rating": 1}
    return [
        ("GET", f"/v1/tenants/{b}/projects", None, "NF-TENANCY-001"),
        ("POST", f"/v1/tenants/{b}/projects", {"id": "stolen"}, "NF-TENANCY-001"),
        ("GET", f"/v1/tenants/{b}/memberships", None, "NF-TENANCY-001"),
        (
            "POST",
            f"/v1/tenants/{b}/memberships",
            {"email": cast.email("editor"), "role": "owner"},
            "NF-TENANCY-001",
        ),
        ("GET", f"/v1/projects/{b}/{p}/novels", None, "NF-TENANCY-001"),
        ("POST", f"/v1/projects/{b}/{p}/novels", b"Chapter 1\n\nx\n", "NF-TENANCY-001"),
        ("GET", f"/v1/projects/{b}/{p}/requests", None, "NF-TENANCY-001"),
        ("GET", f"/v1/projects/{b}/{p}/novels/secret/chapters", None, "NF-TENANCY-001"),
        ("POST", f"/v1/projects/{b}/{p}/requests", {"novel": "secret"}, "NF-TENANCY-001"),
        ("GET", f"/v1/requests/{theirs['request']['id']}", None, "NF-INPUT-010"),
        ("GET", f"/v1/traces/{theirs['request']['trace_id']}", None, "NF-INPUT-010"),
        ("GET", f"/v1/artifacts/{theirs['artifact']}", None, "NF-INPUT-010"),
        ("GET", f"/v1/artifacts/{theirs['artifact']}/meta", None, "NF-INPUT-010"),
        ("POST", "/v1/feedback", fb, "NF-INPUT-010"),
        (
            "POST",
            "/v1/feedback",
            {**fb, "target_kind": "chapter", "target_id": str(theirs["chapter"])},
            "NF-INPUT-010",
        ),
        ("DELETE", f"/v1/auth/tokens/{theirs['token']['id']}", None, "NF-INPUT-010"),
        ("POST", "/v1/auth/tokens", {"name": "x", "tenant_id": b}, "NF-TENANCY-001"),
    ]


def call(client, method, path, body, headers):
    headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    if isinstance(body, bytes):
        return client.request(
            method, path, content=body, headers={**headers, "Content-Type": "text/plain"}
        )
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("who", ["owner", "editor", "viewer"])
def test_every_endpoint_hides_another_tenant(client, cast, auth, gateway_engine, theirs, who):
    before = counts(gateway_engine, *ALL_WRITE_TABLES, "chapters", "artifacts")
    for method, path, body, code in cross_tenant_calls(cast, theirs):
        r = call(client, method, path, body, auth[who])
        assert (r.status_code, r.json()["error_code"]) == (404, code), (method, path, r.text)
        # Nothing of theirs leaks (ids the caller sent may be echoed in the message).
        assert theirs["request"]["novel_id"] not in r.text and "private" not in r.text
    assert counts(gateway_engine, *ALL_WRITE_TABLES, "chapters", "artifacts") == before
    # Tenant b's own user still sees everything (the fixtures are real).
    r = client.get(f"/v1/artifacts/{theirs['artifact']}", headers=auth["other"])
    assert r.status_code == 200 and r.content == b"their private video"


def test_the_operator_sees_across_tenants(client, auth, theirs):
    r = client.get(f"/v1/requests/{theirs['request']['id']}", headers=auth["operator"])
    assert r.status_code == 200


def test_a_project_member_sees_only_its_project(client, cast, auth, gateway_engine):
    mine = upload(client, auth["editor"], cast.a, cast.project, "main-only").json()
    req = client.post(
        f"/v1/projects/{cast.a}/{cast.project}/requests",
        json={"novel": mine["slug"]},
        headers={**auth["editor"], "Idempotency-Key": uuid.uuid4().hex},
    ).json()
    h = auth["sideeditor"]
    assert (
        client.get(f"/v1/projects/{cast.a}/{cast.other_project}/novels", headers=h).status_code
        == 200
    )
    for path in (
        f"/v1/projects/{cast.a}/{cast.project}/novels",
        f"/v1/requests/{req['id']}",
        f"/v1/traces/{req['trace_id']}",
    ):
        assert client.get(path, headers=h).status_code == 404, path
    listed = client.get(f"/v1/tenants/{cast.a}/projects", headers=h).json()
    assert [p["id"] for p in listed] == [cast.other_project]
    assert upload(client, h, cast.a, cast.other_project, "side-tale").status_code == 201


def test_weaker_roles_get_403_and_change_nothing(client, cast, auth, gateway_engine):
    upload(client, auth["editor"], cast.a, cast.project, "for-viewer")
    a, p = cast.a, cast.project
    calls = [
        ("viewer", "POST", f"/v1/projects/{a}/{p}/novels", b"Chapter 1\n\ntext\n"),
        ("viewer", "POST", f"/v1/projects/{a}/{p}/requests", {"novel": "for-viewer"}),
        ("viewer", "POST", f"/v1/tenants/{a}/projects", {"id": "nope"}),
        ("editor", "POST", f"/v1/tenants/{a}/projects", {"id": "nope"}),
        (
            "editor",
            "POST",
            f"/v1/tenants/{a}/memberships",
            {"email": cast.email("viewer"), "role": "owner"},
        ),
        ("editor", "GET", f"/v1/tenants/{a}/memberships", None),
        ("owner", "POST", "/v1/tenants", {"id": f"new-{cast.suffix}"}),
        (
            "owner",
            "POST",
            "/v1/users",
            {"email": f"x-{cast.suffix}@example.test", "password": "long enough pw"},
        ),
    ]
    before = counts(gateway_engine, *ALL_WRITE_TABLES)
    for who, method, path, body in calls:
        r = call(client, method, path, body, auth[who])
        assert (r.status_code, r.json()["error_code"]) == (403, "NF-AUTH-004"), (who, path)
    assert counts(gateway_engine, *ALL_WRITE_TABLES) == before


# -- row-level security underneath -------------------------------------------------------------
def test_rls_hides_other_tenants_from_an_unfiltered_query(gateway_engine, cast, theirs):
    req = T["execution_requests"]
    with submissions.scoped(gateway_engine, [cast.a]) as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == submissions.APP_ROLE
        # The "bug": no tenant filter at all.
        tenants = set(conn.execute(select(req.c.tenant_id)).scalars())
        assert cast.b not in tenants
        assert (
            conn.execute(
                select(func.count()).select_from(req).where(req.c.id == theirs["request"]["id"])
            ).scalar()
            == 0
        )
        assert (
            conn.execute(
                text("SELECT count(*) FROM artifacts WHERE id = :i"), {"i": theirs["artifact"]}
            ).scalar()
            == 0
        )
    with submissions.scoped(gateway_engine, []) as conn:
        assert conn.execute(select(func.count()).select_from(req)).scalar() == 0
    with submissions.scoped(gateway_engine, [cast.b]) as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(req).where(req.c.id == theirs["request"]["id"])
            ).scalar()
            == 1
        )
    with submissions.scoped(gateway_engine, None) as conn:  # operator role
        assert {cast.a, cast.b} <= set(conn.execute(select(req.c.tenant_id)).scalars())
    # The table owner (pipeline, recorder, sensors) is not subject to RLS.
    with gateway_engine.connect() as conn:
        assert (
            conn.execute(
                select(func.count()).select_from(req).where(req.c.id == theirs["request"]["id"])
            ).scalar()
            == 1
        )


def test_rls_refuses_writes_into_another_tenant(gateway_engine, cast):
    before = counts(gateway_engine, "feedback")
    with pytest.raises(ProgrammingError, match="row-level security"):
        with submissions.scoped(gateway_engine, [cast.a]) as conn:
            conn.execute(
                insert(T["feedback"]).values(
                    id=uuid.uuid4(),
                    tenant_id=cast.b,
                    project_id=cast.project,
                    target_kind="chapter",
                    target_id="x",
                    rating=1,
                )
            )
    assert counts(gateway_engine, "feedback") == before


def test_every_tenant_table_has_rls_policies(gateway_engine):
    with gateway_engine.connect() as conn:
        secured = set(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid "
                    "WHERE c.relrowsecurity AND p.polname = 'nf_tenant_isolation'"
                )
            ).scalars()
        )
        forced = conn.execute(
            text("SELECT count(*) FROM pg_class WHERE relforcerowsecurity")
        ).scalar()
    assert set(TENANT_TABLES) | {"tenants", "projects", "memberships"} <= secured
    assert not {"users", "api_tokens"} & secured
    assert forced == 0  # the owner (pipeline) must keep bypassing RLS
