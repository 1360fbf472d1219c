"""The upload applies the admission policy (nf_services.admission): refusals with their code and
nothing written, admitted-with-warnings in the response's `warnings` list."""

from __future__ import annotations

import sys

import pytest

from nf_gateway.testing import ALL_WRITE_TABLES, TWO_CHAPTERS, counts, upload

pytestmark = pytest.mark.pg

UPLOAD_LIMIT = 256 * 1024  # tests/gateway/conftest.py
PARA = "The sailor told a long story about the sea, the wind and the boats of the harbour. " * 6


def blobs(root) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def test_headingless_upload_is_admitted_with_a_warning(client, cast, auth):
    text = "\n\n".join([PARA.strip()] * 30).encode()
    r = upload(client, auth["editor"], cast.a, cast.project, "no-headings", text)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["chapters"] >= 1
    [w] = body["warnings"]
    assert w["code"] == "NF-INPUT-013" and "no chapter headings" in w["message"]
    again = upload(client, auth["editor"], cast.a, cast.project, "no-headings", text)
    assert again.status_code == 200 and again.json()["warnings"] == body["warnings"]


def test_a_clean_upload_has_no_warnings(client, cast, auth):
    r = upload(client, auth["editor"], cast.a, cast.project, "clean", TWO_CHAPTERS)
    assert r.status_code in (200, 201) and r.json()["warnings"] == []


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        # 210k characters on one line: under the 256 KiB limit, but one absurd chapter
        ("one-line", b"The wind rose over the grey sea. " * 6_400, "NF-INPUT-011"),
        # a third of the text before the first chapter heading would be in no video
        (
            "preface",
            "\n\n".join(
                [PARA.strip()] * 4
                + [f"Chapter {i}\n\n" + "\n\n".join([PARA.strip()] * 3) for i in (1, 2, 3)]
            ).encode(),
            "NF-INPUT-012",
        ),
    ],
)
def test_refused_uploads_write_nothing(
    client, cast, auth, gateway_engine, artifact_root, name, data, code
):
    before = counts(gateway_engine, *ALL_WRITE_TABLES), blobs(artifact_root)
    r = upload(client, auth["editor"], cast.a, cast.project, name, data)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error_code"] == code and body["message"] and body["trace_id"]
    assert (counts(gateway_engine, *ALL_WRITE_TABLES), blobs(artifact_root)) == before


def test_oversized_upload_says_size_and_limit(client, cast, auth):
    r = client.post(
        f"/v1/projects/{cast.a}/{cast.project}/novels",
        params={"slug": "big"},
        content=b"x" * (UPLOAD_LIMIT + 1),
        headers={**auth["editor"], "Content-Type": "text/plain"},
    )
    assert r.status_code == 413 and r.json()["error_code"] == "NF-INPUT-003"
    assert "the limit is 256.0 KiB (262,144 bytes" in r.json()["message"]


def test_anyio_is_imported_before_any_server_thread():
    """The gateway imports all of anyio in the main thread (nf_gateway.app), so no server
    thread parses a module while pytest's rewriter parses another (CPython gh-106905)."""
    import pkgutil

    import anyio

    import nf_gateway.app  # noqa: F401

    lazy = [
        m.name
        for m in pkgutil.walk_packages(anyio.__path__, "anyio.")
        if m.name not in sys.modules and m.name not in ("anyio._backends._trio",)
    ]
    assert lazy == []
