"""`nf` subcommands for the intake path: tenants, projects, users, memberships, tokens, submit,
status, trace. They call the same service functions as the HTTP gateway (same validation, same
idempotency, same error codes), as an operator with direct database access."""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from shared.errors import NFError


def _ctx():
    from nf_gateway.principal import system_operator
    from shared.db import database_url, get_engine

    return get_engine(database_url()), system_operator()


def _json_object(raw: str | None, what: str) -> dict | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise NFError("NF-INPUT-001", f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise NFError("NF-INPUT-001", f"{what} must be a JSON object")
    return value


def _out(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def cmd_tenant(args: argparse.Namespace) -> int:
    from nf_gateway import service

    engine, op = _ctx()
    _out(service.create_tenant(engine, op, tenant_id=args.id, name=args.name))
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    from nf_gateway import service

    engine, op = _ctx()
    config = _json_object(args.config, "--config")
    _out(
        service.create_project(
            engine, op, tenant_id=args.tenant, project_id=args.id, name=args.name, config=config
        )
    )
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.password:
        return args.password
    return getpass.getpass("password: ")


def cmd_user(args: argparse.Namespace) -> int:
    from nf_gateway import service

    engine, op = _ctx()
    if args.action in ("disable", "enable"):
        _out(service.set_user_disabled(engine, op, args.email, disabled=args.action == "disable"))
        return 0
    if args.action == "password":  # operator reset: ends the user's sessions
        _out(service.reset_password(engine, op, args.email, _password(args)))
        return 0
    _out(
        service.create_user(
            engine,
            op,
            email=args.email,
            password=_password(args),
            display_name=args.display_name,
            is_operator=args.operator,
        )
    )
    return 0


def cmd_member(args: argparse.Namespace) -> int:
    from nf_gateway import service

    engine, op = _ctx()
    if args.action == "remove":
        if not args.id:
            raise NFError("NF-INPUT-001", "member remove needs --id (see GET .../memberships)")
        _out(service.remove_membership(engine, op, tenant_id=args.tenant, membership_id=args.id))
        return 0
    if not args.email or not args.role:
        raise NFError("NF-INPUT-001", "member add needs EMAIL and ROLE")
    _out(
        service.add_membership(
            engine,
            op,
            tenant_id=args.tenant,
            email=args.email,
            role=args.role,
            project_id=args.project,
        )
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from nf_gateway import service

    engine, op = _ctx()
    if args.action == "create":
        if not args.email or not args.name:
            raise NFError("NF-INPUT-001", "token create needs EMAIL and --name")
        _out(
            service.create_api_token(
                engine,
                op,
                name=args.name,
                tenant_id=args.tenant,
                expires_in_days=args.days,
                user_email=args.email,
            )
        )
    else:
        if not args.id:
            raise NFError("NF-INPUT-001", "token revoke needs --id")
        _out(service.revoke_api_token(engine, op, args.id))
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    """Operator maintenance: repair stored JSON that breaks reads, purge expired state."""
    from nf_gateway import service

    engine, _op = _ctx()
    _out(service.maintain(engine, apply=args.apply))
    return 0


def default_key(data: bytes, tenant: str, project: str, slug: str, params: dict) -> str:
    """Same file, place and params -> same key: re-running `nf submit` returns the request it
    made before instead of queueing the novel twice (pass --idempotency-key to force a new one)."""
    h = hashlib.sha256(data)
    h.update(json.dumps([tenant, project, slug, params], sort_keys=True).encode())
    return f"cli-{h.hexdigest()[:40]}"


def cmd_submit(args: argparse.Namespace) -> int:
    from nf_gateway import service
    from nf_services.admission import check_size
    from shared.config import get_settings
    from shared.slugs import slugify
    from shared.storage import artifact_store
    from shared.telemetry import new_trace_id, parse_trace_header

    engine, op = _ctx()
    path = Path(args.file)
    if not path.is_file():
        raise NFError("NF-INPUT-010", f"no such file: {args.file}")
    check_size(path.stat().st_size)  # before reading it; service.upload_novel admits the rest
    data = path.read_bytes()
    params = _json_object(args.params, "--params") or {}
    slug = args.slug or slugify(path.stem.replace("_", "-"), fallback="")
    trace_id = new_trace_id()
    if args.trace_id:
        trace_id = parse_trace_header(None, args.trace_id) or ""
        if not trace_id:
            raise NFError("NF-INPUT-001", "--trace-id must be 32 hex characters")
    store = artifact_store(get_settings())
    novel = service.upload_novel(
        engine,
        store,
        op,
        tenant_id=args.tenant,
        project_id=args.project,
        data=data,
        trace_id=trace_id,
        slug=slug or None,
        title=args.title,
        filename=path.name,
    )
    for w in novel["warnings"]:  # admitted with warnings: also in the JSON below
        print(f"warning {w['code']}: {w['message']}", file=sys.stderr, flush=True)
    key = args.idempotency_key or default_key(
        data, args.tenant, args.project, novel["slug"], params
    )
    done = service.submit_request(
        engine,
        op,
        tenant_id=args.tenant,
        project_id=args.project,
        novel=novel["slug"],
        idempotency_key=key,
        trace_id=trace_id,
        params=params,
    )
    _out({"novel": novel, "request": done.request, "replayed": not done.created})
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from nf_gateway import service

    engine, op = _ctx()
    _out(service.request_status(engine, op, args.request_id))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from nf_gateway import service

    engine, op = _ctx()
    trace = service.get_trace(engine, op, args.trace_id)
    if args.json:
        _out(trace)
        return 0
    print(
        f"trace {trace['trace_id']}: " + ", ".join(f"{v} {k}" for k, v in trace["counts"].items())
    )
    runs = [run for req in trace["requests"] for run in req["runs"]] + trace["runs"]
    for req in trace["requests"]:
        print(
            f"request {req['id']}  {req['status']}/{req['stage']}  "
            f"{req['partition_key']}  {req['error_code'] or ''}"
        )
    for run in runs:
        print(
            f"  run {run['dagster_run_id']}  {run['status']}/{run['stage']}  "
            f"{run['error_code'] or ''}"
        )
        for job in run["jobs"]:
            if job["error_code"] or args.all:
                ch = "" if job["chapter_index"] is None else f" ch{job['chapter_index']}"
                print(
                    f"    job {job['skill_id']}{ch}  {job['status']}  "
                    f"{len(job['artifacts'])} artifacts  {job['error_code'] or ''}"
                )
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("tenant", help="create a tenant")
    s.add_argument("action", choices=["create"])
    s.add_argument("id")
    s.add_argument("--name")
    s.set_defaults(fn=cmd_tenant)

    s = sub.add_parser("project", help="create a project in a tenant")
    s.add_argument("action", choices=["create"])
    s.add_argument("tenant")
    s.add_argument("id")
    s.add_argument("--name")
    s.add_argument("--config", help="project config as a JSON object")
    s.set_defaults(fn=cmd_project)

    s = sub.add_parser(
        "user", help="create, disable or enable a user, or reset a password (prompt or stdin)"
    )
    s.add_argument("action", choices=["create", "disable", "enable", "password"])
    s.add_argument("email")
    s.add_argument("--password-stdin", action="store_true")
    s.add_argument("--password", help="prefer --password-stdin: argv is visible to others")
    s.add_argument("--display-name")
    s.add_argument("--operator", action="store_true", help="cross-tenant operator")
    s.set_defaults(fn=cmd_user)

    s = sub.add_parser("member", help="give a user a role in a tenant or project, or remove it")
    s.add_argument("action", choices=["add", "remove"])
    s.add_argument("tenant")
    s.add_argument("email", nargs="?")
    s.add_argument("role", nargs="?", choices=["owner", "editor", "viewer"])
    s.add_argument("--project")
    s.add_argument("--id", help="membership id (remove)")
    s.set_defaults(fn=cmd_member)

    s = sub.add_parser("token", help="create or revoke an API token")
    s.add_argument("action", choices=["create", "revoke"])
    s.add_argument("email", nargs="?")
    s.add_argument("--name")
    s.add_argument("--tenant", help="bind the token to one tenant")
    s.add_argument("--days", type=int, default=90)
    s.add_argument("--id", help="token id (revoke)")
    s.set_defaults(fn=cmd_token)

    s = sub.add_parser(
        "gateway",
        help="repair stored params/config that break reads; purge expired logout entries "
        "(dry run unless --apply)",
    )
    s.add_argument("action", choices=["repair"])
    s.add_argument("--apply", action="store_true")
    s.set_defaults(fn=cmd_gateway)

    s = sub.add_parser("submit", help="upload a novel and submit it for execution")
    s.add_argument("file")
    s.add_argument("--tenant", required=True)
    s.add_argument("--project", required=True)
    s.add_argument("--slug")
    s.add_argument("--title")
    s.add_argument("--params", help="JSON object stored with the request")
    s.add_argument("--idempotency-key")
    s.add_argument("--trace-id")
    s.set_defaults(fn=cmd_submit)

    s = sub.add_parser("status", help="status and stage of an execution request")
    s.add_argument("request_id")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("trace", help="requests, runs, jobs and artifacts of a trace")
    s.add_argument("trace_id")
    s.add_argument("--json", action="store_true")
    s.add_argument("--all", action="store_true", help="list every job, not only failed ones")
    s.set_defaults(fn=cmd_trace)
