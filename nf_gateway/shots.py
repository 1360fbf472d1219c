"""Regenerate one shot of a rendered novel (a new prompt, a new seed or both): the route, the
service function and the `nf shot regenerate` command.

The regeneration is an execution request of the novel (idempotent by Idempotency-Key, the
tenant quota, the intake sensor) whose params name the shot; the render op applies it and keeps
every other shot (nf_services/shots.py).
"""

from __future__ import annotations

import argparse
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ConfigDict, Field
from sqlalchemy import Engine, select

from nf_gateway import schemas, service
from nf_gateway.deps import EngineDep, KeyDep, PrincipalDep, ProjectPath, TenantPath, TraceDep
from nf_gateway.meta import route
from nf_gateway.principal import Need, Principal
from nf_services import shots, submissions
from shared.errors import NFError
from shared.models import Base

T = Base.metadata.tables
router = APIRouter(prefix="/v1/projects/{tenant}/{project}", tags=["projects"])


def _prompt_or_seed(schema: dict[str, Any]) -> None:
    """A prompt, a seed or both (NF-INPUT-001 otherwise): published so a client knows."""
    schemas._publish_no_nul(schema)
    schema["anyOf"] = [
        {"required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
        {"required": ["seed"], "properties": {"seed": {"type": "integer"}}},
    ]


class ShotRegenerateIn(schemas.In):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_prompt_or_seed)

    chapter: int = Field(ge=1, le=100_000, description="Chapter index (1-based)")
    shot: int = Field(ge=1, le=100_000, description="Shot index within the chapter (1-based)")
    prompt: str | None = Field(
        default=None,
        min_length=1,
        max_length=shots.MAX_PROMPT,
        description="A new prompt. Multi-line: TAB, CR, LF allowed; no other control or bidi "
        "character (NF-INPUT-006).",
        json_schema_extra={"pattern": schemas.COMMENT_PATTERN},
    )
    seed: int | None = Field(default=None, ge=0, le=shots.MAX_SEED, description="A new seed")


def regenerate_shot(
    engine: Engine,
    principal: Principal,
    *,
    tenant_id: str,
    project_id: str,
    novel: str,
    chapter: Any,
    shot: Any,
    prompt: str | None,
    seed: Any,
    idempotency_key: str | None,
    trace_id: str,
) -> submissions.Submitted:
    """Check the shot's chapter exists in the rendered novel, then submit the regeneration.
    Refused before anything is written: NF-INPUT-001/006 (bad values), NF-AUTH-004 (role),
    NF-INPUT-010 (no such novel or chapter)."""
    params = shots.regeneration_params(chapter, shot, prompt, seed)
    service.authorize_project(principal, tenant_id, project_id, Need.WRITE)
    submissions.validate_idempotency_key(idempotency_key)
    pkey = str(submissions.novel_partition_key(tenant_id, project_id, novel))
    novels, chapters = T["novels"], T["chapters"]
    with submissions.scoped(engine, principal.scope()) as conn:
        found = conn.execute(
            select(chapters.c.index)
            .join(novels, novels.c.id == chapters.c.novel_id)
            .where(
                novels.c.tenant_id == tenant_id,
                novels.c.partition_key == pkey,
                chapters.c.index == chapter,
            )
        ).first()
    if found is None:
        raise NFError("NF-INPUT-010", f"no chapter {chapter} of {pkey} has been rendered")
    return service.submit_request(
        engine,
        principal,
        tenant_id=tenant_id,
        project_id=project_id,
        novel=novel,
        idempotency_key=idempotency_key,
        trace_id=trace_id,
        params=params,
    )


@router.post(
    "/novels/{novel}/shots/regenerate",
    response_model=schemas.RequestOut,
    status_code=202,
    summary="Regenerate one shot (new prompt or seed); the rest of the chapter is kept",
    **route(
        role="editor",
        errors=(
            "NF-AUTH-004",
            "NF-TENANCY-001",
            "NF-INPUT-005",
            "NF-INPUT-006",
            "NF-INPUT-007",
            "NF-INPUT-008",
            "NF-INPUT-010",
            "NF-TENANCY-004",
        ),
        studio="Chapter player: regenerate shot",
        replay_model=schemas.RequestOut,
    ),
)
def regenerate(
    tenant: TenantPath,
    project: ProjectPath,
    novel: str,
    body: ShotRegenerateIn,
    request: Request,
    response: Response,
    engine: EngineDep,
    principal: PrincipalDep,
    trace_id: TraceDep,
    key: KeyDep,
) -> dict:
    if principal.can(tenant, project, Need.WRITE):  # the quota counts permitted submits only
        request.app.state.tenant_quota.take(tenant)
    done = regenerate_shot(
        engine,
        principal,
        tenant_id=tenant,
        project_id=project,
        novel=novel,
        chapter=body.chapter,
        shot=body.shot,
        prompt=body.prompt,
        seed=body.seed,
        idempotency_key=key,
        trace_id=trace_id,
    )
    if not done.created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return done.request


# --- CLI ------------------------------------------------------------------------------------
def cmd_shot(args: argparse.Namespace) -> int:
    import hashlib
    import json

    from nf_gateway.cli import _ctx, _out
    from shared.telemetry import new_trace_id

    engine, op = _ctx()
    body = {"chapter": args.chapter, "shot": args.shot, "prompt": args.prompt, "seed": args.seed}
    # same shot and values -> same key: re-running the command returns the same request
    key = (
        args.idempotency_key
        or "shot-"
        + hashlib.sha256(
            json.dumps([args.tenant, args.project, args.novel, body], sort_keys=True).encode()
        ).hexdigest()[:32]
    )
    done = regenerate_shot(
        engine,
        op,
        tenant_id=args.tenant,
        project_id=args.project,
        novel=args.novel,
        chapter=args.chapter,
        shot=args.shot,
        prompt=args.prompt,
        seed=args.seed,
        idempotency_key=key,
        trace_id=new_trace_id(),
    )
    _out({"request": done.request, "replayed": not done.created})
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("shot", help="regenerate one shot of a rendered novel")
    s.add_argument("action", choices=["regenerate"])
    s.add_argument("novel", help="the novel's slug in the project")
    s.add_argument("--tenant", required=True)
    s.add_argument("--project", required=True)
    s.add_argument("--chapter", type=int, required=True)
    s.add_argument("--shot", type=int, required=True)
    s.add_argument("--prompt", help="a new prompt for the shot's panel")
    s.add_argument("--seed", type=int, help="a new seed for the shot's panel")
    s.add_argument("--idempotency-key")
    s.set_defaults(fn=cmd_shot)
