"""Read-only RAG endpoints: retrieval, embedding versions and open suggestions of a project.

Mount with `app.include_router(routes_rag.router)`. Every route needs a viewer role (or more)
in the tenant/project of its path; the queries themselves are filtered by that tenant/project
and run under row-level security (`scoped_engine`: every transaction of the RAG readers drops
to nf_app with the caller's tenants), so a version or chunk of another tenant is never returned.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from nf_gateway import schemas
from nf_gateway.deps import EngineDep, PrincipalDep, ProjectPath, StoreDep, TenantPath
from nf_gateway.meta import route
from nf_gateway.principal import Need
from nf_services.novels import find_novel_id
from nf_services.submissions import scoped_engine
from shared.errors import NFError
from shared.slugs import validate_slug

router = APIRouter(prefix="/v1/projects/{tenant}/{project}/rag", tags=["rag"])


class RagChunkOut(BaseModel):
    chunk_id: str
    score: float
    rank: int
    novel_id: str
    chapter_index: int
    start: int
    end: int
    text: str


class RagSearchOut(BaseModel):
    version_id: str
    version_name: str
    method: str
    chunks: list[RagChunkOut]


class RagVersionOut(BaseModel):
    id: str
    name: str
    backend: str
    model: str
    dimensions: int
    status: str
    created_by: str | None
    promoted_by: str | None
    promoted_at: Any | None
    retired_at: Any | None
    reason: str | None
    recall_at_k: float | None
    mrr: float | None
    eval_queries: int


class RagSuggestionOut(BaseModel):
    id: str
    kind: str
    from_version_id: str | None
    to_version_id: str | None
    status: str
    evidence: dict[str, Any]
    created_at: Any


def _scope(principal, tenant: str, project: str, engine):
    """Role check, then an engine whose every transaction runs under row-level security
    (the caller's tenants), handed to the RAG readers that open their own connections."""
    validate_slug(tenant, "tenant")
    validate_slug(project, "project")
    principal.check(tenant, project, Need.READ)
    return scoped_engine(engine, principal.scope())


@router.get(
    "/search",
    response_model=RagSearchOut,
    summary="Top-k chunks of the project for a text query (active embedding version)",
    **route(
        role="viewer",
        errors=("NF-TENANCY-001", "NF-AUTH-004", "NF-RAG-001", "NF-INPUT-006", "NF-INPUT-010"),
        studio="Novel page: context search",
    ),
)
def search(
    tenant: TenantPath,
    project: ProjectPath,
    engine: EngineDep,
    store: StoreDep,
    principal: PrincipalDep,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=2000,
            description="No NUL (NF-INPUT-001).",
            json_schema_extra={"pattern": schemas.NO_NUL_PATTERN},
        ),
    ],
    k: Annotated[int, Query(ge=1, le=100)] = 5,
    novel: Annotated[
        str | None,
        Query(
            max_length=63,
            description="novel slug: only its chunks (NF-INPUT-006 if not a slug)",
            json_schema_extra={"pattern": schemas.SLUG_PATTERN},
        ),
    ] = None,
    version: Annotated[uuid.UUID | None, Query(description="a version other than active")] = None,
) -> dict:
    from nf_services.rag.retrieval import retrieve

    engine = _scope(principal, tenant, project, engine)
    if "\x00" in q:
        raise NFError("NF-INPUT-001", "NUL characters are not allowed in q")
    got = retrieve(
        tenant,
        project,
        q,
        k,
        novel_id=find_novel_id(engine, tenant, project, novel),
        version_id=version,
        engine=engine,
        store=store,
    )
    return {
        "version_id": got.version_id,
        "version_name": got.version_name,
        "method": got.method,
        "chunks": [c.to_dict() for c in got.chunks],
    }


@router.get(
    "/versions",
    response_model=list[RagVersionOut],
    summary="Embedding versions of the project with their latest evaluation",
    **route(
        role="viewer",
        errors=("NF-TENANCY-001", "NF-AUTH-004", "NF-INPUT-006"),
        studio="Project settings: embedding versions",
    ),
)
def versions(
    tenant: TenantPath, project: ProjectPath, engine: EngineDep, principal: PrincipalDep
) -> list:
    from nf_services.rag import eval as rag_eval
    from nf_services.rag import governance

    engine = _scope(principal, tenant, project, engine)
    out = []
    for v in governance.list_versions(tenant, project, engine=engine):
        s = rag_eval.latest_summary(v.id, engine=engine)
        out.append(
            {
                **v.to_dict(),
                "recall_at_k": s["recall_at_k"],
                "mrr": s["mrr"],
                "eval_queries": s["n_queries"],
            }
        )
    return out


@router.get(
    "/suggestions",
    response_model=list[RagSuggestionOut],
    summary="Rollback/promote suggestions of the project (open ones unless status is given)",
    **route(
        role="viewer",
        errors=("NF-TENANCY-001", "NF-AUTH-004", "NF-INPUT-006"),
        studio="Project settings: embedding versions (suggestions banner)",
    ),
)
def list_suggestions(
    tenant: TenantPath,
    project: ProjectPath,
    engine: EngineDep,
    principal: PrincipalDep,
    status: Annotated[str, Query(pattern="^(open|accepted|dismissed|all)$")] = "open",
) -> list:
    from nf_services.rag import suggestions

    engine = _scope(principal, tenant, project, engine)
    rows = suggestions.list_suggestions(
        engine, tenant, project, status=None if status == "all" else status
    )
    return [
        {
            **r,
            "id": str(r["id"]),
            "from_version_id": str(r["from_version_id"]) if r["from_version_id"] else None,
            "to_version_id": str(r["to_version_id"]) if r["to_version_id"] else None,
        }
        for r in rows
    ]
