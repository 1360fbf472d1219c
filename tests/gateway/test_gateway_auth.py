"""Login, access tokens and API tokens: every failure has its own code and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from nf_gateway import auth as credentials
from nf_gateway.testing import ALL_WRITE_TABLES, PASSWORD, counts
from shared.models import Base

pytestmark = pytest.mark.pg

T = Base.metadata.tables


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_password_hashes_are_salted_scrypt_and_verify():
    h1, h2 = credentials.hash_password(PASSWORD), credentials.hash_password(PASSWORD)
    assert h1 != h2 and h1.startswith("scrypt$")
    assert credentials.verify_password(PASSWORD, h1)
    assert not credentials.verify_password(PASSWORD + "x", h1)
    assert not credentials.verify_password(PASSWORD, None)  # unknown user
    assert not credentials.verify_password(PASSWORD, "garbage")


def test_access_tokens_are_signed_and_expire():
    token, exp = credentials.issue_access_token("u1", ttl_seconds=60)
    assert credentials.verify_access_token(token).user_id == "u1"
    with pytest.raises(Exception) as err:
        credentials.verify_access_token(token, now=exp)
    assert err.value.code == "NF-AUTH-002"
    head, payload, sig = token.split(".")
    forged = json.dumps({"sub": "admin", "iat": 0, "exp": exp}).encode()
    for bad in (f"{head}.{credentials._b64(forged)}.{sig}", token[:-2], "x.y", "v1..", "ü.ü.ü"):
        with pytest.raises(Exception) as err:
            credentials.verify_access_token(bad)
        assert err.value.code == "NF-AUTH-002"


def test_login_and_me(client, cast):
    r = client.post(
        "/v1/auth/login", json={"email": cast.email("viewer").upper(), "password": PASSWORD}
    )
    assert r.status_code == 200
    me = client.get("/v1/auth/me", headers=bearer(r.json()["access_token"])).json()
    assert me["email"] == cast.email("viewer")
    assert me["memberships"] == [{"tenant_id": cast.a, "project_id": None, "role": "viewer"}]


@pytest.mark.parametrize("who, password", [("viewer", "wrong password"), (None, PASSWORD)])
def test_wrong_password_or_unknown_user(client, cast, gateway_engine, who, password):
    before = counts(gateway_engine, *ALL_WRITE_TABLES)
    email = cast.email(who) if who else "nobody@example.test"
    r = client.post("/v1/auth/login", json={"email": email, "password": password})
    assert (r.status_code, r.json()["error_code"]) == (401, "NF-AUTH-001")
    assert counts(gateway_engine, *ALL_WRITE_TABLES) == before


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nonsense", "Basic abc", "Bearer nfk_deadbeef_nope"]
)
def test_missing_or_bad_token(client, cast, header):
    headers = {"Authorization": header} if header else {}
    r = client.get(f"/v1/tenants/{cast.a}/projects", headers=headers)
    assert r.status_code == 401
    assert r.json()["error_code"] == "NF-AUTH-002"
    assert r.headers["www-authenticate"] == "Bearer"


def test_expired_access_token(client, cast, auth):
    user_id = client.get("/v1/auth/me", headers=auth["viewer"]).json()["user_id"]
    token, _ = credentials.issue_access_token(user_id, ttl_seconds=-1)
    r = client.get("/v1/auth/me", headers=bearer(token))
    assert (r.status_code, r.json()["error_code"]) == (401, "NF-AUTH-002")


def test_api_token_lifecycle(client, cast, auth, gateway_engine):
    r = client.post(
        "/v1/auth/tokens", json={"name": "ci", "expires_in_days": 7}, headers=auth["editor"]
    )
    assert r.status_code == 201, r.text
    made = r.json()
    secret = made["token"]
    assert secret.startswith("nfk_") and made["prefix"] in secret
    with gateway_engine.connect() as conn:
        stored = conn.execute(
            select(T["api_tokens"].c.token_hash).where(T["api_tokens"].c.id == made["id"])
        ).scalar_one()
    assert stored == credentials.hash_api_token(secret) and secret not in stored

    assert client.get(f"/v1/tenants/{cast.a}/projects", headers=bearer(secret)).status_code == 200
    listed = client.get("/v1/auth/tokens", headers=auth["editor"]).json()
    assert made["id"] in {t["id"] for t in listed} and all("token" not in t for t in listed)

    # Another user cannot revoke it (looks missing); its owner can, twice.
    r = client.delete(f"/v1/auth/tokens/{made['id']}", headers=auth["viewer"])
    assert (r.status_code, r.json()["error_code"]) == (404, "NF-INPUT-010")
    first = client.delete(f"/v1/auth/tokens/{made['id']}", headers=auth["editor"]).json()
    again = client.delete(f"/v1/auth/tokens/{made['id']}", headers=auth["editor"]).json()
    assert first["revoked_at"] and again["revoked_at"] == first["revoked_at"]
    r = client.get(f"/v1/tenants/{cast.a}/projects", headers=bearer(secret))
    assert (r.status_code, r.json()["error_code"]) == (401, "NF-AUTH-003")


def test_expired_api_token(client, cast, auth, gateway_engine):
    made = client.post("/v1/auth/tokens", json={"name": "old"}, headers=auth["editor"]).json()
    with gateway_engine.begin() as conn:
        conn.execute(
            update(T["api_tokens"])
            .where(T["api_tokens"].c.id == made["id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    r = client.get("/v1/auth/me", headers=bearer(made["token"]))
    assert (r.status_code, r.json()["error_code"]) == (401, "NF-AUTH-002")


def test_a_tenant_bound_token_sees_only_its_tenant(client, cast, auth):
    made = client.post(
        "/v1/auth/tokens", json={"name": "a-only", "tenant_id": cast.a}, headers=auth["operator"]
    ).json()
    h = bearer(made["token"])
    assert client.get(f"/v1/tenants/{cast.a}/projects", headers=h).status_code == 200
    r = client.get(f"/v1/tenants/{cast.b}/projects", headers=h)
    assert (r.status_code, r.json()["error_code"]) == (404, "NF-TENANCY-001")
    # ...and cannot act as an operator or mint a broader token.
    r = client.post("/v1/tenants", json={"id": f"x-{cast.suffix}"}, headers=h)
    assert (r.status_code, r.json()["error_code"]) == (403, "NF-AUTH-004")
    wider = client.post("/v1/auth/tokens", json={"name": "wider"}, headers=h).json()
    assert wider["tenant_id"] == cast.a


def test_token_for_a_tenant_you_are_not_in(client, cast, auth, gateway_engine):
    before = counts(gateway_engine, "api_tokens")
    r = client.post(
        "/v1/auth/tokens", json={"name": "x", "tenant_id": cast.b}, headers=auth["editor"]
    )
    assert (r.status_code, r.json()["error_code"]) == (404, "NF-TENANCY-001")
    assert counts(gateway_engine, "api_tokens") == before


def test_disabled_user_is_refused(client, cast, auth, gateway_engine):
    r = client.post(
        "/v1/users",
        json={"email": f"gone-{cast.suffix}@example.test", "password": PASSWORD},
        headers=auth["operator"],
    )
    assert r.status_code == 201
    h = {
        "Authorization": "Bearer "
        + client.post(
            "/v1/auth/login",
            json={"email": f"gone-{cast.suffix}@example.test", "password": PASSWORD},
        ).json()["access_token"]
    }
    with gateway_engine.begin() as conn:
        conn.execute(
            update(T["users"])
            .where(T["users"].c.id == r.json()["id"])
            .values(disabled_at=datetime.now(UTC))
        )
    assert client.get("/v1/auth/me", headers=h).json()["error_code"] == "NF-AUTH-002"
    r = client.post(
        "/v1/auth/login", json={"email": f"gone-{cast.suffix}@example.test", "password": PASSWORD}
    )
    assert r.json()["error_code"] == "NF-AUTH-001"
