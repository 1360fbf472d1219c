"""`nf demo` and `nf submit` refuse a file before anything is written and say why on one line;
admitted files with warnings print them on stderr; a failed run's line carries its code."""

from __future__ import annotations

import json
import uuid

import dagster as dg
import pytest

from nf_cli.main import main
from nf_gateway.testing import ALL_WRITE_TABLES, counts
from shared.errors import NFError

pytestmark = pytest.mark.pg

MiB = 1024 * 1024


@pytest.fixture
def nf(capsys, monkeypatch, tmp_path, migrated_db_url):
    """`nf ...` with its data dir, artifacts and Dagster home under tmp_path."""
    from shared.config import get_settings

    monkeypatch.setenv("NF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NF_ARTIFACT_ROOT", raising=False)
    monkeypatch.delenv("NF_UPLOAD_MAX_BYTES", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    get_settings.cache_clear()

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    get_settings.cache_clear()


def test_demo_refuses_a_50_mb_file_on_one_line_and_writes_nothing(nf, tmp_path, engine):
    big = tmp_path / "big_novel.txt"
    with big.open("wb") as f:
        for _ in range(50):
            f.write(b"It was a dark and stormy night. " * (MiB // 32))
    before = counts(engine, *ALL_WRITE_TABLES)
    code, out, err = nf("demo", "--novel", str(big), "--tenant", "big", "--project", "books")
    assert code == 2 and out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err  # ONE line
    assert err.startswith(
        "error NF-INPUT-003: the file is 50.0 MiB (52,428,800 bytes); the limit is 20.0 MiB"
    )
    assert counts(engine, *ALL_WRITE_TABLES) == before
    assert not (tmp_path / "data").exists()  # no artifacts, no dagster_home, no database


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (("海风吹过，他想起了很久以前的事情。" * 30_000).encode(), "NF-INPUT-011"),  # one line
        (b" \n\n \t\n", "NF-INPUT-004"),
        (bytes(range(256)) * 64, "NF-INPUT-002"),
    ],
)
def test_demo_refusals_are_one_line_with_their_code(nf, tmp_path, engine, content, code):
    path = tmp_path / "novel.txt"
    path.write_bytes(content)
    before = counts(engine, *ALL_WRITE_TABLES)
    rc, out, err = nf("demo", "--novel", str(path))
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error {code}: ")
    assert counts(engine, *ALL_WRITE_TABLES) == before
    assert not (tmp_path / "data").exists()


def test_demo_missing_file(nf, tmp_path):
    rc, _, err = nf("demo", "--novel", str(tmp_path / "nope.txt"))
    assert rc == 2 and err.startswith("error NF-INPUT-010: no such file")


def test_submit_refuses_and_warns(nf, tmp_path, engine):
    tenant = f"adm-{uuid.uuid4().hex[:8]}"
    assert nf("tenant", "create", tenant)[0] == 0
    assert nf("project", "create", tenant, "books")[0] == 0
    argv = ("--tenant", tenant, "--project", "books")

    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (21 * MiB // 5))
    before = counts(engine, *ALL_WRITE_TABLES)
    rc, out, err = nf("submit", str(big), *argv)
    assert rc == 2 and out == "" and err.count("\n") == 1  # submit prints JSON, errors too
    assert json.loads(err)["error_code"] == "NF-INPUT-003"
    one_line = tmp_path / "one_line.txt"
    one_line.write_bytes(b"The wind rose over the grey sea. " * 8_000)
    rc, _, err = nf("submit", str(one_line), *argv)
    assert rc == 2 and json.loads(err)["error_code"] == "NF-INPUT-011"
    assert counts(engine, *ALL_WRITE_TABLES) == before

    plain = tmp_path / "no_headings.txt"
    plain.write_bytes(b"A short tale of the sea, told without any chapter headings.\n\n" * 20)
    rc, out, err = nf("submit", str(plain), *argv)
    assert rc == 0
    assert err.startswith("warning NF-INPUT-013: no chapter headings found")
    [w] = json.loads(out)["novel"]["warnings"]
    assert w["code"] == "NF-INPUT-013"


def test_text_commands_print_errors_on_one_line_json_commands_as_json(nf, tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(bytes(range(256)) * 8)
    rc, _, err = nf("chapters", str(path))
    assert rc == 2 and err.startswith("error NF-INPUT-002: ") and err.count("\n") == 1
    rc, _, err = nf("chapters", str(path), "--json")
    assert rc == 2 and json.loads(err)["error_code"] == "NF-INPUT-002"


# -- a failed run's code --------------------------------------------------------------------
@dg.op
def _compose_fails():
    raise NFError("NF-MEDIA-001", "ffmpeg exited with 1")


@dg.op
def _plain_bug():
    raise ValueError("bad value 42")


def _failed(op) -> tuple[dg.DagsterInstance, str]:
    job = dg.GraphDefinition(name=f"fails_{op.name}", node_defs=[op]).to_job()
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(raise_on_error=False, instance=instance)
    assert not result.success
    return instance, result.run_id


def test_run_failure_reads_the_code_from_render_runs_then_dagster(engine):
    from sqlalchemy import insert

    from nf_cli.runs import run_failure
    from nf_services.novels import ensure_tenant_project
    from shared.models import Base

    coded = _failed(_compose_fails)
    assert run_failure(engine, *coded) == ("NF-MEDIA-001", "ffmpeg exited with 1")
    code, message = run_failure(engine, *_failed(_plain_bug))
    assert code == "NF-ORCH-002" and "ValueError: bad value 42" in message

    tenant = f"rf{uuid.uuid4().hex[:8]}"
    ensure_tenant_project(engine, tenant, "books")
    with engine.begin() as conn:  # what nf recorded wins over Dagster's event
        conn.execute(
            insert(Base.metadata.tables["render_runs"]).values(
                id=uuid.uuid4(),
                tenant_id=tenant,
                project_id="books",
                trace_id=uuid.uuid4().hex,
                idempotency_key=f"dagster:{coded[1]}",
                dagster_run_id=coded[1],
                status="failed",
                stage="failed",
                error_code="NF-GATE-002",
                error_message="chapter 2: black frames",
            )
        )
    assert run_failure(engine, *coded) == ("NF-GATE-002", "chapter 2: black frames")
