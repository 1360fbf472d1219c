"""The governance commands of `nf`, through main() as an operator would call them."""

from __future__ import annotations

import json

import pytest

from nf_cli.main import main

from .conftest import World


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_proposal_commands(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    w = world
    scope = ["--tenant", w.tenant, "--project", w.project]
    code, out, _ = _run(
        capsys,
        "proposal",
        "create",
        *scope,
        "--actor",
        w.email("editor"),
        "--target",
        "SKILL_13",
        "--to",
        "1.4.0",
        "--reason",
        "try",
    )
    assert code == 0
    pid = json.loads(out)["id"]
    assert _run(capsys, "proposal", "submit", pid, "--actor", w.email("editor"))[0] == 0
    code, _, err = _run(
        capsys, "proposal", "review", pid, "--approve", "--actor", w.email("viewer")
    )
    assert code == 2 and json.loads(err)["error_code"] == "NF-AUTH-004"
    assert _run(capsys, "proposal", "review", pid, "--approve", "--actor", w.email("owner"))[0] == 0
    code, out, err = _run(capsys, "proposal", "promote", pid, "--actor", w.email("owner"))
    assert code == 2 and json.loads(err)["error_code"] == "NF-GOV-002"
    report = json.loads(out)["gate_report"]
    assert set(report["failed"]) == {"content_gate", "media_gate", "experiment"}
    code, out, _ = _run(capsys, "proposal", "show", pid)
    assert json.loads(out)["status"] == "approved"


def test_experiment_observer_and_audit_commands(world: World, capsys) -> None:
    w = world
    scope = ["--tenant", w.tenant, "--project", w.project]
    code, _, _ = _run(
        capsys,
        "experiment",
        "create",
        "cli-exp",
        *scope,
        "--target",
        "SKILL_13",
        "--control",
        "1.0.0",
        "--candidate",
        "1.1.0",
        "--min-samples",
        "5",
    )
    assert code == 0
    code, out, _ = _run(
        capsys,
        "experiment",
        "assign",
        "cli-exp",
        *scope,
        "--novel",
        f"{w.tenant}.{w.project}.book",
        "--chapters",
        "6",
    )
    assert code == 0 and set(json.loads(out).values()) <= {"control", "candidate"}
    code, _, err = _run(capsys, "experiment", "decide", "cli-exp", *scope)
    assert code == 2 and json.loads(err)["error_code"] == "NF-GOV-003"

    w.job(None, None, None, "SKILL_10", status="failed", error_code="NF-INTERNAL-000")
    code, out, err = _run(capsys, "observer", "rollup", "--tenant", w.tenant)
    assert code == 1 and json.loads(out)["failures"] == 1 and "coverage" in err

    code, out, _ = _run(capsys, "audit", "indexes", "--rows", "20000")
    assert code == 0 and "index audit passed" in out
