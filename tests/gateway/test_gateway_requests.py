"""Uploads and execution requests: formats, idempotency, trace propagation, status."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from nf_gateway.testing import TWO_CHAPTERS, counts, upload
from shared.models import Base

pytestmark = pytest.mark.pg

T = Base.metadata.tables


def test_upload_raw_multipart_and_replay(client, cast, auth, gateway_engine):
    base = f"/v1/projects/{cast.a}/{cast.project}/novels"
    gb = (
        "第一章 出发\n\n"
        + "天亮了，他走出家门，沿着河边向东走去。\n\n" * 8
        + "第二章 归来\n\n"
        + "傍晚，他回到了村子，看见母亲站在门口。\n\n" * 8
    ).encode("gb18030")
    r = client.post(
        base,
        files={"file": ("归来.txt", gb, "text/plain")},
        data={"slug": "guilai"},
        headers=auth["editor"],
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["slug"], body["encoding"], body["language"], body["chapters"]) == (
        "guilai",
        "gb18030",
        "zh",
        2,
    )
    assert body["partition_key"] == f"{cast.a}.{cast.project}.guilai"
    assert body["title"] == "归来"

    again = client.post(
        base,
        files={"file": ("归来.txt", gb, "text/plain")},
        data={"slug": "guilai"},
        headers=auth["editor"],
    )
    assert again.status_code == 200 and again.json()["id"] == body["id"]

    r = upload(client, auth["editor"], cast.a, cast.project, "raw-tale")
    assert r.status_code == 201 and r.json()["language"] == "en"
    listed = client.get(base, headers=auth["viewer"]).json()
    assert {"guilai", "raw-tale"} <= {n["slug"] for n in listed}


def test_other_text_under_a_taken_slug_is_refused(client, cast, auth, gateway_engine):
    assert upload(client, auth["editor"], cast.a, cast.project, "taken").status_code == 201
    before = counts(gateway_engine, "novels")
    r = upload(
        client,
        auth["editor"],
        cast.a,
        cast.project,
        "taken",
        data=TWO_CHAPTERS + b"\nAn extra line.\n",
    )
    assert (r.status_code, r.json()["error_code"]) == (409, "NF-DB-002")
    assert counts(gateway_engine, "novels") == before


def test_slug_defaults_from_the_title(client, cast, auth):
    r = client.post(
        f"/v1/projects/{cast.a}/{cast.project}/novels",
        params={"title": "The Long Voyage"},
        content=TWO_CHAPTERS + b"\n\n",
        headers={**auth["editor"], "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201 and r.json()["slug"] == "the-long-voyage"


def submit(client, headers, tenant, project, novel, key, params=None, extra=None):
    return client.post(
        f"/v1/projects/{tenant}/{project}/requests",
        json={"novel": novel, **({"params": params} if params is not None else {})},
        headers={**headers, **({"Idempotency-Key": key} if key else {}), **(extra or {})},
    )


def test_submit_is_idempotent_per_key(client, cast, auth, gateway_engine):
    upload(client, auth["editor"], cast.a, cast.project, "idem")
    key = uuid.uuid4().hex
    first = submit(client, auth["editor"], cast.a, cast.project, "idem", key, {"chapters": 2})
    assert first.status_code == 202, first.text
    before = counts(gateway_engine, "execution_requests", "events")
    # Same body (params keys in another order, slug spelled as the partition key): the original.
    again = submit(
        client,
        auth["editor"],
        cast.a,
        cast.project,
        f"{cast.a}.{cast.project}.idem",
        key,
        {"chapters": 2},
    )
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = submit(client, auth["editor"], cast.a, cast.project, "idem", key, {"chapters": 3})
    assert (other.status_code, other.json()["error_code"]) == (409, "NF-INPUT-008")
    assert counts(gateway_engine, "execution_requests", "events") == before

    body = first.json()
    assert (body["status"], body["stage"], body["idempotency_key"]) == ("pending", "submitted", key)
    with gateway_engine.connect() as conn:
        ev = conn.execute(select(T["events"]).where(T["events"].c.request_id == body["id"])).all()
    assert [(e.topic, e.trace_id) for e in ev] == [("request.created", body["trace_id"])]


def test_the_same_key_in_another_tenant_is_another_request(client, cast, auth):
    upload(client, auth["editor"], cast.a, cast.project, "shared-key")
    upload(client, auth["other"], cast.b, cast.project, "shared-key")
    key = uuid.uuid4().hex
    a = submit(client, auth["editor"], cast.a, cast.project, "shared-key", key)
    b = submit(client, auth["other"], cast.b, cast.project, "shared-key", key)
    assert a.status_code == b.status_code == 202 and a.json()["id"] != b.json()["id"]


def test_trace_id_is_adopted_from_headers_and_echoed(client, cast, auth):
    upload(client, auth["editor"], cast.a, cast.project, "traced")
    trace = uuid.uuid4().hex
    r = submit(
        client,
        auth["editor"],
        cast.a,
        cast.project,
        "traced",
        uuid.uuid4().hex,
        extra={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
    )
    assert r.headers["x-trace-id"] == trace and r.json()["trace_id"] == trace
    other = uuid.uuid4().hex
    r = submit(
        client,
        auth["editor"],
        cast.a,
        cast.project,
        "traced",
        uuid.uuid4().hex,
        extra={"X-Trace-Id": other},
    )
    assert r.json()["trace_id"] == other
    r = submit(
        client,
        auth["editor"],
        cast.a,
        cast.project,
        "traced",
        uuid.uuid4().hex,
        extra={"traceparent": "garbage"},
    )
    assert len(r.json()["trace_id"]) == 32 and r.json()["trace_id"] == r.headers["x-trace-id"]
    # Errors carry it too.
    r = client.get(f"/v1/requests/{uuid.uuid4()}", headers={**auth["editor"], "X-Trace-Id": trace})
    assert r.json()["trace_id"] == trace and r.headers["x-trace-id"] == trace


def test_status_and_trace_of_a_pending_request(client, cast, auth):
    upload(client, auth["editor"], cast.a, cast.project, "status")
    made = submit(client, auth["editor"], cast.a, cast.project, "status", uuid.uuid4().hex).json()
    got = client.get(f"/v1/requests/{made['id']}", headers=auth["viewer"]).json()
    assert (got["status"], got["stage"], got["run"]) == ("pending", "submitted", None)
    trace = client.get(f"/v1/traces/{made['trace_id']}", headers=auth["viewer"]).json()
    assert [r["id"] for r in trace["requests"]] == [made["id"]]
    assert trace["counts"]["events"] == 1
    history = client.get(
        f"/v1/projects/{cast.a}/{cast.project}/requests", headers=auth["viewer"]
    ).json()
    assert made["id"] in {h["id"] for h in history}


def test_admin_flow(client, cast, auth):
    email = f"newbie-{cast.suffix}@example.test"
    assert (
        client.post(
            "/v1/users",
            json={"email": email, "password": "long enough pw"},
            headers=auth["operator"],
        ).status_code
        == 201
    )
    r = client.post(
        f"/v1/tenants/{cast.a}/projects",
        json={"id": "third", "name": "Third"},
        headers=auth["owner"],
    )
    assert r.status_code == 201
    r = client.post(
        f"/v1/tenants/{cast.a}/memberships",
        json={"email": email, "role": "viewer", "project_id": "third"},
        headers=auth["owner"],
    )
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    r = client.post(
        f"/v1/tenants/{cast.a}/memberships",
        json={"email": email, "role": "editor", "project_id": "third"},
        headers=auth["owner"],
    )
    assert r.json()["role"] == "editor"  # upsert, not a second row
    members = client.get(f"/v1/tenants/{cast.a}/memberships", headers=auth["owner"]).json()
    assert [m["role"] for m in members if m["email"] == email] == ["editor"]
    h = {
        "Authorization": "Bearer "
        + client.post("/v1/auth/login", json={"email": email, "password": "long enough pw"}).json()[
            "access_token"
        ]
    }
    assert [p["id"] for p in client.get(f"/v1/tenants/{cast.a}/projects", headers=h).json()] == [
        "third"
    ]
