"""Issue 11 against the live gateway: stored-DoS input, account lifecycle, idempotency scope,
character policy, schema truthfulness, headers, pagination, cancel and progress events."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from nf_gateway import service
from nf_gateway.principal import system_operator
from nf_gateway.testing import PASSWORD, counts, login, upload

pytestmark = [pytest.mark.pg]


def _deep(n: int) -> dict:
    v: dict = {}
    for _ in range(n):
        v = {"a": v}
    return v


@pytest.fixture(scope="module")
def novel(client, cast, auth):
    r = upload(client, auth["editor"], cast.a, cast.project, "hardening")
    assert r.status_code in (200, 201), r.text
    return r.json()


def _submit(client, headers, cast, key, params=None, project=None):
    return client.post(
        f"/v1/projects/{cast.a}/{project or cast.project}/requests",
        json={"novel": "hardening", "params": params or {}},
        headers={**headers, "Idempotency-Key": key},
    )


# -- item 1: validate before write; reads never 500 ------------------------------------------
def test_deep_params_are_refused_and_the_list_still_answers(
    client, cast, auth, novel, gateway_engine
):
    before = counts(gateway_engine, "execution_requests", "events")
    for params in (_deep(900), _deep(33)):
        r = _submit(client, auth["editor"], cast, uuid.uuid4().hex, params)
        assert r.status_code == 422 and r.json()["error_code"] == "NF-INPUT-014", r.text
    r = _submit(client, auth["editor"], cast, uuid.uuid4().hex, _deep(30))
    assert r.status_code == 202, r.text
    after = counts(gateway_engine, "execution_requests", "events")
    assert after["execution_requests"] == before["execution_requests"] + 1
    # A row written before the limits (straight into the table) does not break reads.
    rid = r.json()["id"]
    with gateway_engine.begin() as conn:
        conn.execute(
            text("UPDATE execution_requests SET params = CAST(:p AS jsonb) WHERE id = :id"),
            {"p": json.dumps(_deep(900)), "id": rid},
        )
    lst = client.get(f"/v1/projects/{cast.a}/{cast.project}/requests", headers=auth["viewer"])
    assert lst.status_code == 200
    row = next(x for x in lst.json() if x["id"] == rid)
    assert "_nf_unreadable" in row["params"]
    assert client.get(f"/v1/requests/{rid}", headers=auth["viewer"]).status_code == 200
    # The operator's repair finds and rewrites it.
    found = service.maintain(gateway_engine, apply=True)
    assert {"table": "execution_requests", "key": [rid]} in found["unreadable"]
    got = client.get(f"/v1/requests/{rid}", headers=auth["viewer"]).json()
    assert "_nf_repaired" in got["params"]


def test_deep_project_config_and_lone_surrogates_are_4xx(client, cast, auth):
    r = client.post(
        f"/v1/tenants/{cast.a}/projects",
        json={"id": "deep", "config": _deep(900)},
        headers=auth["owner"],
    )
    assert r.status_code == 422 and r.json()["error_code"] == "NF-INPUT-014"
    raw = '{"novel": "hardening", "params": {"x": "\\ud800"}}'
    r = client.post(
        f"/v1/projects/{cast.a}/{cast.project}/requests",
        content=raw,
        headers={**auth["editor"], "Idempotency-Key": "s1", "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error_code"] == "NF-INPUT-015", r.text
    r = client.post(
        "/v1/auth/tokens",
        content='{"name": "\\udc00x"}',
        headers={**auth["editor"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error_code"] == "NF-INPUT-015"
    # An escaped backslash before "ud800" is ordinary text.
    r = client.post(
        "/v1/auth/tokens",
        content='{"name": "a\\\\ud800"}',
        headers={**auth["editor"], "Content-Type": "application/json"},
    )
    assert r.status_code == 201, r.text
    client.delete(f"/v1/auth/tokens/{r.json()['id']}", headers=auth["editor"])


@pytest.mark.parametrize("bad", ["a\rb", "a\nb", "a\tb", "evil\u202etxt", "zero\u200bwidth"])
def test_names_refuse_control_bidi_and_zero_width(client, auth, bad):
    r = client.post("/v1/auth/tokens", json={"name": bad}, headers=auth["editor"])
    assert r.status_code == 422 and r.json()["error_code"] == "NF-INPUT-006", r.text


def test_nul_in_a_rag_novel_never_reaches_the_driver(client, cast, auth):
    r = client.get(
        f"/v1/projects/{cast.a}/{cast.project}/rag/search",
        params={"q": "harbour", "novel": "x\x00y"},
        headers=auth["viewer"],
    )
    assert r.status_code == 422 and r.json()["error_code"] == "NF-INPUT-006"
    r = client.get(
        f"/v1/projects/{cast.a}/{cast.project}/rag/search",
        params={"q": "a\x00b"},
        headers=auth["viewer"],
    )
    assert r.status_code == 422 and r.json()["error_code"] == "NF-INPUT-001"


# -- item 3: account lifecycle ----------------------------------------------------------------
def _user(engine, name: str) -> tuple[str, dict]:
    email = f"{name}-{uuid.uuid4().hex[:8]}@example.test"
    service.create_user(engine, system_operator(), email=email, password=PASSWORD)
    return email, {}


def test_child_tokens_are_capped_by_their_parent_and_revoked_with_it(client, auth):
    r = client.post(
        "/v1/auth/tokens", json={"name": "parent", "expires_in_days": 1}, headers=auth["editor"]
    )
    parent = r.json()
    ph = {"Authorization": f"Bearer {parent['token']}"}
    kids = [
        client.post("/v1/auth/tokens", json={"name": n, "expires_in_days": d}, headers=ph).json()
        for n, d in (("long", 366), ("never", None))
    ]
    for kid in kids:
        assert kid["expires_at"] <= parent["expires_at"], kid
    grandchild = client.post(
        "/v1/auth/tokens",
        json={"name": "gc"},
        headers={"Authorization": f"Bearer {kids[0]['token']}"},
    ).json()
    r = client.post("/v1/auth/tokens", json={"name": "x", "expires_in_days": 367}, headers=ph)
    assert r.status_code == 422
    assert client.delete(f"/v1/auth/tokens/{parent['id']}", headers=auth["editor"]).is_success
    for t in (*kids, grandchild):
        r = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {t['token']}"})
        assert r.status_code == 401 and r.json()["error_code"] == "NF-AUTH-003"


def test_per_user_token_cap(client, gateway_engine):
    email, _ = _user(gateway_engine, "hoarder")
    h = login(client, email)
    made = [client.post("/v1/auth/tokens", json={"name": f"t{i}"}, headers=h) for i in range(50)]
    assert all(r.status_code == 201 for r in made)
    r = client.post("/v1/auth/tokens", json={"name": "one too many"}, headers=h)
    assert r.status_code == 409 and r.json()["error_code"] == "NF-AUTH-006"
    client.delete(f"/v1/auth/tokens/{made[0].json()['id']}", headers=h)
    assert client.post("/v1/auth/tokens", json={"name": "again"}, headers=h).status_code == 201
    page = client.get("/v1/auth/tokens", params={"limit": 20}, headers=h)
    assert len(page.json()) == 20 and page.headers["X-Next-Cursor"]
    seen = {t["id"] for t in page.json()}
    while "X-Next-Cursor" in page.headers:
        page = client.get(
            "/v1/auth/tokens",
            params={"limit": 20, "cursor": page.headers["X-Next-Cursor"]},
            headers=h,
        )
        assert not seen & {t["id"] for t in page.json()}
        seen |= {t["id"] for t in page.json()}
    assert len(seen) == 51


def test_logout_password_change_and_disable(client, gateway_engine):
    email, _ = _user(gateway_engine, "leaver")
    h1, h2 = login(client, email), login(client, email)
    r = client.post("/v1/auth/logout", headers=h1)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert client.get("/v1/auth/me", headers=h1).json()["error_code"] == "NF-AUTH-003"
    assert client.get("/v1/auth/me", headers=h2).status_code == 200
    r = client.post(
        "/v1/auth/password",
        json={"current_password": "wrong one!", "new_password": "a new password"},
        headers=h2,
    )
    assert r.status_code == 401
    r = client.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a new password"},
        headers=h2,
    )
    assert r.status_code == 200, r.text
    h3 = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert client.get("/v1/auth/me", headers=h2).status_code == 401  # sessions ended
    assert client.get("/v1/auth/me", headers=h3).status_code == 200
    api = client.post("/v1/auth/tokens", json={"name": "ci"}, headers=h3).json()
    user_id = client.get("/v1/auth/me", headers=h3).json()["user_id"]
    op = login(client, _operator_email(gateway_engine))
    r = client.put(f"/v1/users/{user_id}/state", json={"disabled": True}, headers=op)
    assert r.status_code == 200 and r.json()["disabled"] is True
    for h in (h3, {"Authorization": f"Bearer {api['token']}"}):
        assert client.get("/v1/auth/me", headers=h).status_code == 401
    r = client.post("/v1/auth/login", json={"email": email, "password": "a new password"})
    assert r.status_code == 401
    client.put(f"/v1/users/{user_id}/state", json={"disabled": False}, headers=op)
    assert login(client, email, "a new password")


def _operator_email(engine) -> str:
    email = f"op-{uuid.uuid4().hex[:8]}@example.test"
    service.create_user(engine, system_operator(), email=email, password=PASSWORD, is_operator=True)
    return email


def test_memberships_last_owner_removal_and_no_enumeration(client, gateway_engine):
    op = system_operator()
    tenant = f"solo-{uuid.uuid4().hex[:8]}"
    service.create_tenant(gateway_engine, op, tenant_id=tenant)
    email, _ = _user(gateway_engine, "soleowner")
    service.add_membership(gateway_engine, op, tenant_id=tenant, email=email, role="owner")
    h = login(client, email)
    r = client.post(
        f"/v1/tenants/{tenant}/memberships", json={"email": email, "role": "viewer"}, headers=h
    )
    assert r.status_code == 409 and r.json()["error_code"] == "NF-TENANCY-003"
    members = client.get(f"/v1/tenants/{tenant}/memberships", headers=h).json()
    mine = members[0]["id"]
    r = client.delete(f"/v1/tenants/{tenant}/memberships/{mine}", headers=h)
    assert r.status_code == 409 and r.json()["error_code"] == "NF-TENANCY-003"
    # An address with an account and one without get the same answer (an invitation).
    known, _ = _user(gateway_engine, "known")
    answers = [
        client.post(
            f"/v1/tenants/{tenant}/memberships", json={"email": e, "role": "viewer"}, headers=h
        )
        for e in (known, f"nobody-{uuid.uuid4().hex[:8]}@example.test")
    ]
    assert [a.status_code for a in answers] == [200, 200]
    assert [sorted(a.json()) for a in answers][0] == sorted(answers[1].json())
    # The invited address is claimed by creating the user, who then has the role.
    invited = answers[1].json()["email"]
    service.create_user(gateway_engine, op, email=invited, password=PASSWORD)
    me = client.get("/v1/auth/me", headers=login(client, invited)).json()
    assert me["memberships"] == [{"tenant_id": tenant, "project_id": None, "role": "viewer"}]
    # A second owner lets the first step down; removing a membership works.
    service.add_membership(gateway_engine, op, tenant_id=tenant, email=known, role="owner")
    r = client.delete(f"/v1/tenants/{tenant}/memberships/{answers[1].json()['id']}", headers=h)
    assert r.status_code == 200
    assert client.get("/v1/auth/me", headers=login(client, invited)).json()["memberships"] == []


# -- item 5: idempotency scope --------------------------------------------------------------
def test_idempotency_keys_are_per_user_and_project(client, cast, auth, novel):
    key = f"shared-{uuid.uuid4().hex[:8]}"
    mine = _submit(client, auth["editor"], cast, key)
    assert mine.status_code == 202 and mine.json()["idempotency_key"] == key
    theirs = _submit(client, auth["owner"], cast, key)
    assert theirs.status_code == 202 and theirs.json()["id"] != mine.json()["id"]
    again = _submit(client, auth["editor"], cast, key)
    assert again.status_code == 200 and again.json()["id"] == mine.json()["id"]
    other = _submit(client, auth["editor"], cast, key, {"x": 1})
    assert other.status_code == 409 and other.json()["error_code"] == "NF-INPUT-008"


# -- item 6: schema, headers, OPTIONS, docs, cancel, progress --------------------------------
def test_schema_says_what_the_server_enforces(client):
    schema = client.get("/openapi.json").json()
    op = schema["paths"]["/v1/projects/{tenant}/{project}/requests"]["post"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["tenant"]["schema"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,62}$"
    assert params["tenant"]["schema"]["maxLength"] == 63
    assert params["Idempotency-Key"]["required"] is True
    assert "NF-INPUT-016" in op["x-nf-error-codes"]


def test_security_headers_options_and_offline_docs(client, auth):
    r = client.get("/v1/auth/me", headers=auth["viewer"])
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    r = client.options("/v1/auth/tokens")
    assert r.status_code == 204 and set(r.headers["Allow"].split(", ")) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    }
    r = client.put("/v1/auth/tokens", headers=auth["viewer"])
    assert r.status_code == 405 and "POST" in r.headers["Allow"] and "GET" in r.headers["Allow"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "Content-Security-Policy" in docs.headers
    assert "<script" not in docs.text and "cdn" not in docs.text.lower()
    assert "/v1/auth/login" in docs.text
    assert (
        "access-control-allow-origin"
        not in client.get("/healthz", headers={"Origin": "https://evil.example"}).headers
    )


def test_cancel_and_progress_events(client, cast, auth, novel):
    made = _submit(client, auth["editor"], cast, uuid.uuid4().hex).json()
    with client.stream("GET", f"/v1/requests/{made['id']}/events", headers=auth["viewer"]) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        lines = s.iter_lines()
        assert next(lines) == "event: status"
        first = json.loads(next(lines).removeprefix("data: "))
        assert first["status"] == "pending"
        r = client.post(f"/v1/requests/{made['id']}/cancel", headers=auth["viewer"])
        assert r.status_code == 403
        r = client.post(f"/v1/requests/{made['id']}/cancel", headers=auth["editor"])
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["status"], body["error_code"], body["cancel_requested"]) == (
            "cancelled",
            "NF-ORCH-003",
            False,
        )
        rest = [line for line in lines if line.startswith("data: ")]
        assert json.loads(rest[-1].removeprefix("data: "))["status"] == "cancelled"


def test_request_list_pages_without_gaps(client, cast, auth, novel):
    for _ in range(5):
        _submit(client, auth["editor"], cast, uuid.uuid4().hex)
    url = f"/v1/projects/{cast.a}/{cast.project}/requests"
    everything = client.get(url, params={"limit": 500}, headers=auth["viewer"]).json()
    pages, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = client.get(url, params=params, headers=auth["viewer"])
        pages += r.json()
        cursor = r.headers.get("X-Next-Cursor")
        if not cursor:
            break
        assert 'rel="next"' in r.headers["Link"]
    assert [p["id"] for p in pages] == [e["id"] for e in everything]
    r = client.get(url, params={"cursor": "bm90LWEtY3Vyc29y"}, headers=auth["viewer"])
    assert r.status_code == 422
