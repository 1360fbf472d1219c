"""The external fuzzer against the live gateway (issue 11, item 7): schemathesis' own runner
(`schemathesis run`, the CLI a client would use) over the published OpenAPI schema of the real
uvicorn server on 127.0.0.1, with EVERY check on (`--checks all`: server errors, status codes,
content types, response headers and bodies, negative data rejected, positive data accepted,
missing required headers, unsupported methods and `Allow`, use after free, resource
availability, ignored auth, object-level authorization), in all four phases: the schema's
examples, coverage, fuzzing and the stateful phase (sequences of calls connected by the
schema's links and the links schemathesis infers from responses). 0 failures.

Bounded: a fixed number of test cases per operation (`--max-examples`), a fixed seed, a
request timeout, and a hard time budget (`--max-time`; the run takes ~15-40 s on 2 cores).

Test data: the fuzzer draws `tenant`/`project` from the cast's real ones most of the time
(`[dictionaries]`), so it reaches the core logic and not only 404s. A `cursor` is opaque (the
sort key of the last row of the previous page, as the server issued it): no schema can tell a
valid one from a random string, so the fuzzer sends none of its own (the empty cursor is the
first page); paging is tested in test_gateway_hardening.py.

Logout and password change end the shared session (and a random current password counts
toward the login throttle): excluded here, tested in test_gateway_hardening.py and
test_gateway_auth.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nf_gateway.app import create_app
from nf_gateway.deps import GatewayConfig
from nf_gateway.paging import _encode
from nf_gateway.server import serve_in_thread
from nf_gateway.testing import login, seed_cast
from tests.gateway.conftest import UPLOAD_LIMIT, per_account_throttle

pytestmark = [pytest.mark.pg, pytest.mark.slow]

MAX_EXAMPLES = 20
TIMEOUT_S = 150
SESSION_ENDING = ("/v1/auth/logout", "/v1/auth/password")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


# A cursor is the sort key of the last row seen; these are positions before every row (after
# every row for the newest-first request list), so each page the fuzzer asks for is a real one.
_EARLY = "2000-01-01T00:00:00+00:00"
_ZERO = "00000000-0000-0000-0000-000000000000"
CURSORS = {
    "/v1/auth/tokens": (_EARLY, _ZERO),
    "/v1/tenants/{tenant}/projects": ("",),
    "/v1/tenants/{tenant}/memberships": ("", _ZERO),
    "/v1/projects/{tenant}/{project}/novels": (_EARLY, _ZERO),
    "/v1/projects/{tenant}/{project}/novels/{novel}/chapters": (-1,),
    "/v1/projects/{tenant}/{project}/requests": (
        "2999-01-01T00:00:00+00:00",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
    ),
}


def config_toml(cast) -> str:
    tenants = json.dumps([cast.a, cast.b])
    projects = json.dumps([cast.project, cast.other_project])
    text = f"""
[dictionaries]
tenants = {{ values = {tenants} }}
projects = {{ values = {projects} }}

[parameters]
tenant = {{ dictionary = "tenants", probability = 0.8 }}
project = {{ dictionary = "projects", probability = 0.8 }}

# Links between operations: the schema's own and those read from Location headers. Inference by
# "dependency analysis" is off: it feeds a null `tenant_id` of a token into a tenant path as the
# text "None", which is not a slug (a request the schema forbids, not one it allows).
[phases.stateful.inference]
algorithms = ["location-headers"]
"""
    for path, key in CURSORS.items():
        text += (
            f'\n[[operations]]\ninclude-path = "{path}"\n'
            f'parameters = {{ "query.cursor" = "{_encode(key)}" }}\n'
        )
    # a request's event stream stays open until the request ends: follow it for a second
    text += (
        '\n[[operations]]\ninclude-path = "/v1/requests/{request_id}/events"\n'
        'parameters = { "query.for_seconds" = 1 }\n'
    )
    return text


@pytest.fixture(scope="module")
def fuzz_gateway(artifact_root):
    """A database, cast and gateway of the fuzzer's own: as an operator it removes memberships
    and disables users, and its failed logins lock accounts; none of that may reach the other
    tests of the session."""
    import httpx

    from migrations import runner
    from shared.db import get_engine
    from tests.conftest import create_database, drop_database

    url = create_database("nf_fuzz")
    runner.upgrade(url, "head")
    cast = seed_cast(get_engine(url))
    app = create_app(GatewayConfig(url, str(artifact_root), UPLOAD_LIMIT))
    app.state.login_throttle = per_account_throttle()
    with serve_in_thread(app) as base, httpx.Client(base_url=base, timeout=60) as client:
        auth = {who: login(client, cast.email(who)) for who in cast.emails}
        yield base, cast, auth
    drop_database(url)


def run_schemathesis(gateway_url: str, headers: dict, cast, tmp: Path) -> dict:
    config = tmp / "schemathesis.toml"
    config.write_text(config_toml(cast))
    report = tmp / "report"
    cmd = [
        str(SCHEMATHESIS),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{gateway_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "11",
        "--workers",
        "1",  # threads here would meet CPython 3.11.7's ast.parse race (gh-106905) in schemathesis
        "--request-timeout",
        "30",
        "--continue-on-failure",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(report),
        "--warnings",
        "off",
    ]
    for name, value in headers.items():
        cmd += ["-H", f"{name}: {value}"]
    for path in SESSION_ENDING:
        cmd += ["--exclude-path", path]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    out = proc.stdout + proc.stderr
    return {"rc": proc.returncode, "out": out}


def summary(out: str) -> str:
    return out[out.find("SUMMARY") - 40 :] if "SUMMARY" in out else out[-4000:]


@pytest.mark.parametrize("who", ["editor", "operator"])
def test_schemathesis_all_checks_stateful(fuzz_gateway, tmp_path, who):
    """As an editor (most writes, one tenant) and as an operator (everything, every tenant)."""
    url, cast, auth = fuzz_gateway
    result = run_schemathesis(url, auth[who], cast, tmp_path)
    out = result["out"]
    assert result["rc"] == 0, out[-20000:]
    assert " 0 failures" in out or "failures" not in out.split("SUMMARY")[-1], summary(out)
    assert "Stateful" in out, summary(out)
