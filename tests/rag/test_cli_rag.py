"""`nf rag ...` against the worker's database: versions, create/index/evaluate, search, rollback."""

from __future__ import annotations

import json
import uuid

import pytest

from nf_cli.main import main
from nf_services.rag import indexing

pytestmark = pytest.mark.pg


def _run(capsys, *argv: str) -> tuple[int, object, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith(("{", "[")) else out), err


def test_rag_commands(xiyouji, capsys, monkeypatch):
    x = xiyouji
    monkeypatch.setenv("NF_ARTIFACT_ROOT", str(x.store.root))
    from shared.config import get_settings

    get_settings.cache_clear()
    project = f"cli{uuid.uuid4().hex[:6]}"
    from tests.rag.conftest import load_novel

    load_novel(x.engine, x.store, x.tenant, project, "zh_xiyouji.txt", 2)
    scope = ("--tenant", x.tenant, "--project", project)

    code, out, err = _run(capsys, "rag", "search", *scope, "美猴王")
    assert code == 2 and json.loads(err)["error_code"] == "NF-RAG-001"  # nothing indexed yet
    code, out, _ = _run(capsys, "rag", "index", *scope)
    assert code == 0 and out[0]["version_name"] == indexing.DEFAULT_VERSION_NAME
    code, out, _ = _run(
        capsys,
        "rag",
        "create-version",
        *scope,
        "--name",
        "bigrams",
        "--backend",
        "char-ngram",
        "--params",
        '{"n_max": 2}',
        "--by",
        "ops",
    )
    assert code == 0 and out["status"] == "candidate"
    code, out, _ = _run(capsys, "rag", "index", *scope, "--version", out["id"])
    assert code == 0 and out[0]["embedded"] > 0
    code, out, _ = _run(capsys, "rag", "evaluate", *scope, "--novel", "zh-xiyouji")
    assert code == 0
    assert {r["version"] for r in out["results"]} == {indexing.DEFAULT_VERSION_NAME, "bigrams"}
    assert all(r["queries"] > 0 for r in out["results"])
    code, out, _ = _run(capsys, "rag", "versions", *scope, "--json")
    assert code == 0 and all(v["recall_at_k"] is not None for v in out)

    probe = x.chunks[3].text[40:64]
    code, out, _ = _run(capsys, "rag", "search", *scope, probe, "--k", "2", "--json")
    assert code == 0 and probe in out["chunks"][0]["text"]
    code, out, err = _run(capsys, "rag", "rollback", *scope, "--by", "ops", "--reason", "test")
    assert code == 2 and json.loads(err)["error_code"] == "NF-RAG-003"  # nothing to go back to
    get_settings.cache_clear()
