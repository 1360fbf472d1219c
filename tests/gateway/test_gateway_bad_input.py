"""Bad input: each case gets its own error code and HTTP status, and the database is unchanged."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image

from nf_gateway.testing import ALL_WRITE_TABLES, TWO_CHAPTERS, counts, upload

pytestmark = pytest.mark.pg

UPLOAD_LIMIT = 256 * 1024  # tests/gateway/conftest.py


@pytest.fixture(scope="module")
def novel(client, cast, auth):
    r = upload(client, auth["editor"], cast.a, cast.project, "known")
    assert r.status_code in (200, 201)
    return r.json()


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()


def raw(client, headers, tenant, project, data, ctype="text/plain", **params):
    return client.post(
        f"/v1/projects/{tenant}/{project}/novels",
        params=params,
        content=data,
        headers={**headers, "Content-Type": ctype},
    )


def cases(cast):
    a, p = cast.a, cast.project
    req = f"/v1/projects/{a}/{p}/requests"
    key = {"Idempotency-Key": "k-" + cast.suffix}
    return {
        # uploads
        "oversized": (lambda c, h: raw(c, h, a, p, b"x" * (UPLOAD_LIMIT + 1)), 413, "NF-INPUT-003"),
        "oversized multipart": (
            lambda c, h: c.post(
                f"/v1/projects/{a}/{p}/novels",
                headers=h,
                files={"file": ("big.txt", b"y" * (UPLOAD_LIMIT + 1), "text/plain")},
            ),
            413,
            "NF-INPUT-003",
        ),
        "binary": (
            lambda c, h: raw(c, h, a, p, bytes(range(256)) * 64, "application/pdf", slug="bin"),
            415,
            "NF-INPUT-002",
        ),
        "png": (
            lambda c, h: raw(c, h, a, p, png_bytes(), "image/png", slug="png"),
            415,
            "NF-INPUT-002",
        ),
        "empty": (lambda c, h: raw(c, h, a, p, b"", slug="empty"), 422, "NF-INPUT-004"),
        "whitespace": (lambda c, h: raw(c, h, a, p, b" \n\t\n ", slug="ws"), 422, "NF-INPUT-004"),
        "multipart without file": (
            lambda c, h: c.post(
                f"/v1/projects/{a}/{p}/novels",
                headers=h,
                data={"slug": "nofile"},
                files={"other": ("x.txt", b"abc", "text/plain")},
            ),
            422,
            "NF-INPUT-001",
        ),
        "malformed multipart": (
            lambda c, h: raw(c, h, a, p, b"--zz\r\nnonsense", "multipart/form-data; boundary=zz"),
            422,
            "NF-INPUT-001",
        ),
        "path-like slug": (
            lambda c, h: raw(c, h, a, p, TWO_CHAPTERS, slug="../../etc"),
            422,
            "NF-INPUT-005",
        ),
        "sql-like slug": (
            lambda c, h: raw(c, h, a, p, TWO_CHAPTERS, slug="x'; DROP TABLE novels;--"),
            422,
            "NF-INPUT-005",
        ),
        "partition metachar slug": (
            lambda c, h: raw(c, h, a, p, TWO_CHAPTERS, slug="a,b|[c]"),
            422,
            "NF-INPUT-005",
        ),
        "control chars in title": (
            lambda c, h: raw(c, h, a, p, TWO_CHAPTERS, slug="ok", title="bad\x00title"),
            422,
            "NF-INPUT-006",
        ),
        "path-like tenant": (lambda c, h: raw(c, h, "..etc", p, TWO_CHAPTERS), 422, "NF-INPUT-006"),
        "sql-like project": (
            lambda c, h: c.get(f"/v1/projects/{a}/x' OR '1'='1/novels", headers=h),
            422,
            "NF-INPUT-006",
        ),
        # execution requests
        "missing idempotency key": (
            lambda c, h: c.post(req, json={"novel": "known"}, headers=h),
            400,
            "NF-INPUT-007",
        ),
        "blank idempotency key": (
            lambda c, h: c.post(req, json={"novel": "known"}, headers={**h, "Idempotency-Key": ""}),
            400,
            "NF-INPUT-007",
        ),
        "overlong idempotency key": (
            lambda c, h: c.post(
                req, json={"novel": "known"}, headers={**h, "Idempotency-Key": "k" * 201}
            ),
            400,
            "NF-INPUT-007",
        ),
        "unknown novel": (
            lambda c, h: c.post(req, json={"novel": "ghost"}, headers={**h, **key}),
            404,
            "NF-INPUT-010",
        ),
        "invalid partition slug": (
            lambda c, h: c.post(req, json={"novel": "Bad Slug!"}, headers={**h, **key}),
            422,
            "NF-INPUT-005",
        ),
        "partition of another project": (
            lambda c, h: c.post(
                req, json={"novel": f"{a}.{cast.other_project}.known"}, headers={**h, **key}
            ),
            404,
            "NF-INPUT-010",
        ),
        "json injection in partition": (
            lambda c, h: c.post(req, json={"novel": '{"a":1}'}, headers={**h, **key}),
            422,
            "NF-INPUT-005",
        ),
        "unknown field": (
            lambda c, h: c.post(req, json={"novel": "known", "evil": 1}, headers={**h, **key}),
            422,
            "NF-INPUT-001",
        ),
        "not json": (
            lambda c, h: c.post(
                req, content=b"{nope", headers={**h, **key, "Content-Type": "application/json"}
            ),
            422,
            "NF-INPUT-001",
        ),
        "params not an object": (
            lambda c, h: c.post(req, json={"novel": "known", "params": [1]}, headers={**h, **key}),
            422,
            "NF-INPUT-001",
        ),
        "nul in params": (
            lambda c, h: c.post(
                req, json={"novel": "known", "params": {"a": "\x00"}}, headers={**h, **key}
            ),
            422,
            "NF-INPUT-001",
        ),
        "huge params": (
            lambda c, h: c.post(
                req, json={"novel": "known", "params": {"a": "x" * 20000}}, headers={**h, **key}
            ),
            422,
            "NF-INPUT-001",
        ),
        "unknown project": (
            lambda c, h: c.post(
                f"/v1/projects/{a}/nowhere/requests", json={"novel": "known"}, headers={**h, **key}
            ),
            404,
            "NF-TENANCY-001",
        ),
        # ids and feedback
        "malformed request id": (
            lambda c, h: c.get("/v1/requests/not-a-uuid", headers=h),
            422,
            "NF-INPUT-001",
        ),
        "unknown request id": (
            lambda c, h: c.get(f"/v1/requests/{uuid.uuid4()}", headers=h),
            404,
            "NF-INPUT-010",
        ),
        "malformed trace id": (
            lambda c, h: c.get("/v1/traces/XYZ", headers=h),
            422,
            "NF-INPUT-001",
        ),
        "unknown trace": (
            lambda c, h: c.get(f"/v1/traces/{uuid.uuid4().hex}", headers=h),
            404,
            "NF-INPUT-010",
        ),
        "unknown artifact": (
            lambda c, h: c.get(f"/v1/artifacts/{uuid.uuid4()}", headers=h),
            404,
            "NF-INPUT-010",
        ),
        "feedback without key": (
            lambda c, h: c.post(
                "/v1/feedback",
                headers=h,
                json={"target_kind": "artifact", "target_id": str(uuid.uuid4()), "rating": 3},
            ),
            400,
            "NF-INPUT-007",
        ),
        "feedback rating out of range": (
            lambda c, h: c.post(
                "/v1/feedback",
                headers={**h, **key},
                json={"target_kind": "artifact", "target_id": str(uuid.uuid4()), "rating": 9},
            ),
            422,
            "NF-INPUT-001",
        ),
        "feedback on nothing": (
            lambda c, h: c.post(
                "/v1/feedback",
                headers={**h, **key},
                json={"target_kind": "chapter", "target_id": str(uuid.uuid4()), "rating": 3},
            ),
            404,
            "NF-INPUT-010",
        ),
        "feedback bad kind": (
            lambda c, h: c.post(
                "/v1/feedback",
                headers={**h, **key},
                json={"target_kind": "novel", "target_id": str(uuid.uuid4()), "rating": 3},
            ),
            422,
            "NF-INPUT-001",
        ),
        # admin
        "tenant with a path-like id": (
            lambda c, h: c.post("/v1/tenants", json={"id": "../x"}, headers=h),
            403,
            "NF-AUTH-004",
        ),
        "unknown route": (lambda c, h: c.get("/v1/nothing-here", headers=h), 404, "NF-INPUT-010"),
        "wrong method": (lambda c, h: c.put("/v1/feedback", headers=h), 405, "NF-INPUT-001"),
    }


CASE_NAMES = list(
    cases(type("C", (), {"suffix": "", "a": "a", "project": "p", "other_project": "q"})()).keys()
)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input(client, cast, auth, gateway_engine, novel, name):
    fn, status, code = cases(cast)[name]
    before = counts(gateway_engine, *ALL_WRITE_TABLES)
    r = fn(client, auth["editor"])
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error_code"] == code and body["message"] and body["trace_id"]
    assert r.headers["x-trace-id"] == body["trace_id"]
    assert counts(gateway_engine, *ALL_WRITE_TABLES) == before


@pytest.mark.parametrize(
    "payload, code",
    [
        ({"id": "../etc"}, "NF-INPUT-006"),
        ({"id": "Robert'); DROP TABLE tenants;--"}, "NF-INPUT-006"),
        ({"id": "a" * 64}, "NF-INPUT-001"),
    ],
)
def test_operator_inputs(client, auth, gateway_engine, payload, code):
    before = counts(gateway_engine, *ALL_WRITE_TABLES)
    r = client.post("/v1/tenants", json=payload, headers=auth["operator"])
    assert (r.status_code, r.json()["error_code"]) == (422, code)
    assert counts(gateway_engine, *ALL_WRITE_TABLES) == before


def test_duplicate_tenant_and_user(client, cast, auth, gateway_engine):
    before = counts(gateway_engine, *ALL_WRITE_TABLES)
    r = client.post("/v1/tenants", json={"id": cast.a}, headers=auth["operator"])
    assert (r.status_code, r.json()["error_code"]) == (409, "NF-DB-002")
    r = client.post(
        "/v1/users",
        json={"email": cast.email("viewer").upper(), "password": "long enough pw"},
        headers=auth["operator"],
    )
    assert (r.status_code, r.json()["error_code"]) == (409, "NF-DB-002")
    r = client.post(
        "/v1/users",
        json={"email": f"short-{cast.suffix}@example.test", "password": "short"},
        headers=auth["operator"],
    )
    assert (r.status_code, r.json()["error_code"]) == (422, "NF-INPUT-001")
    assert counts(gateway_engine, *ALL_WRITE_TABLES) == before
