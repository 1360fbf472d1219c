"""`nf` intake commands (same rules as the gateway) and the docs generated from OpenAPI."""

from __future__ import annotations

import io
import json
import uuid

import pytest

from nf_cli.main import main
from nf_gateway import docs
from nf_gateway.testing import TWO_CHAPTERS, counts

pytestmark = pytest.mark.pg


@pytest.fixture
def nf(capsys, monkeypatch, tmp_path, migrated_db_url):
    from shared.config import get_settings

    monkeypatch.setenv("NF_ARTIFACT_ROOT", str(tmp_path / "artifacts"))
    get_settings.cache_clear()

    def run(*argv: str, stdin: str | None = None) -> tuple[int, object]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        text = out if code == 0 else err
        try:
            return code, json.loads(text)
        except ValueError:
            return code, text

    yield run
    get_settings.cache_clear()


def test_cli_intake_path(nf, tmp_path, gateway_engine):
    s = uuid.uuid4().hex[:8]
    tenant, email = f"cli-{s}", f"cli-{s}@example.test"
    assert nf("tenant", "create", tenant, "--name", "CLI")[0] == 0
    assert nf("project", "create", tenant, "books")[0] == 0
    code, user = nf("user", "create", email, "--password-stdin", stdin="a long password\n")
    assert code == 0 and user["email"] == email
    assert nf("member", "add", tenant, email, "editor")[1]["role"] == "editor"
    code, token = nf("token", "create", email, "--name", "ci", "--tenant", tenant)
    assert code == 0 and token["token"].startswith("nfk_") and token["tenant_id"] == tenant

    book = tmp_path / "sea_story.txt"
    book.write_bytes(TWO_CHAPTERS)
    code, first = nf("submit", str(book), "--tenant", tenant, "--project", "books")
    assert code == 0, first
    assert first["novel"]["slug"] == "sea-story" and not first["replayed"]
    code, again = nf("submit", str(book), "--tenant", tenant, "--project", "books")
    assert again["replayed"] and again["request"]["id"] == first["request"]["id"]

    rid = first["request"]["id"]
    assert nf("status", rid)[1]["status"] == "pending"
    code, trace = nf("trace", first["request"]["trace_id"], "--json")
    assert [r["id"] for r in trace["requests"]] == [rid]
    code, text = nf("trace", first["request"]["trace_id"])
    assert code == 0 and f"request {rid}" in text
    assert nf("token", "revoke", "--id", token["id"])[1]["revoked_at"]


@pytest.mark.parametrize(
    "argv, code",
    [
        (("submit", "/nonexistent/book.txt", "--tenant", "t", "--project", "p"), "NF-INPUT-010"),
        (("tenant", "create", "../etc"), "NF-INPUT-006"),
        (("status", "not-a-uuid"), "NF-INPUT-010"),
        (("trace", "xyz"), "NF-INPUT-001"),
        (("project", "create", "t", "p", "--config", "[1]"), "NF-INPUT-001"),
    ],
)
def test_cli_bad_input_has_codes_and_changes_nothing(nf, gateway_engine, argv, code):
    before = counts(gateway_engine, "tenants", "projects", "novels", "execution_requests")
    status, err = nf(*argv)
    assert status == 2 and err["error_code"] == code
    assert counts(gateway_engine, "tenants", "projects", "novels", "execution_requests") == before


def test_generated_api_docs_match_the_schema():
    stale = docs.drifted()
    assert not stale, f"regenerate with `python -m nf_gateway.docs`: {stale}"


def test_api_docs_cover_every_operation():
    schema = docs.openapi_schema()
    contracts = docs.service_api_contracts(schema)
    mapping = docs.studio_web_api_mapping(schema)
    for path, item in schema["paths"].items():
        for method, op in item.items():
            assert f"### {method.upper()} `{path}`" in contracts
            assert f"{method.upper()} `{path}`" in mapping
            assert op["x-nf-error-codes"] and op["x-nf-role"]
