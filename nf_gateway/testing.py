"""Helpers for tests and the benchmark: a cast of tenants, projects and users with every role,
login, row counts and a tiny two-chapter novel. Used against a real PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, func, select

from nf_gateway import service
from nf_gateway.principal import system_operator
from shared.models import Base

PASSWORD = "correct horse battery"

TWO_CHAPTERS = (
    b'Chapter 1\n\nMara walked to the harbour at dawn. "Is the boat ready?" she asked.\n\n'
    b"The old sailor nodded and pointed at the grey sea.\n\n"
    b"Chapter 2\n\nThe boat left at noon. Mara watched the town grow small behind them.\n\n"
    b'"We will be back by winter," said the sailor.\n'
)


@dataclass
class Cast:
    """Two tenants: `a` (owner, editor, viewer, a project-only editor) and `b` (an editor)."""

    suffix: str
    a: str = ""
    b: str = ""
    project: str = "main"
    other_project: str = "side"
    emails: dict[str, str] = field(default_factory=dict)

    def email(self, who: str) -> str:
        return self.emails[who]


def seed_cast(engine: Engine) -> Cast:
    """Users, two tenants with two projects each, memberships: fresh names every call."""
    op = system_operator()
    s = uuid.uuid4().hex[:8]
    cast = Cast(suffix=s, a=f"acme-{s}", b=f"globex-{s}")
    for who in ("operator", "owner", "editor", "viewer", "sideeditor", "other"):
        cast.emails[who] = f"{who}-{s}@example.test"
        service.create_user(
            engine, op, email=cast.emails[who], password=PASSWORD, is_operator=who == "operator"
        )
    for tenant in (cast.a, cast.b):
        service.create_tenant(engine, op, tenant_id=tenant, name=tenant.title())
        for project in (cast.project, cast.other_project):
            service.create_project(engine, op, tenant_id=tenant, project_id=project)
    for who, role in (("owner", "owner"), ("editor", "editor"), ("viewer", "viewer")):
        service.add_membership(engine, op, tenant_id=cast.a, email=cast.emails[who], role=role)
    service.add_membership(
        engine,
        op,
        tenant_id=cast.a,
        email=cast.emails["sideeditor"],
        role="editor",
        project_id=cast.other_project,
    )
    service.add_membership(engine, op, tenant_id=cast.b, email=cast.emails["other"], role="editor")
    return cast


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/v1/auth/login", json={"email": email, "password": password})
    if r.status_code != 200:
        raise RuntimeError(f"login failed: {r.text}")
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def counts(engine: Engine, *tables: str) -> dict[str, int]:
    """Row counts: equal before and after a refused call means nothing was written."""
    T = Base.metadata.tables
    with engine.connect() as conn:
        return {t: conn.execute(select(func.count()).select_from(T[t])).scalar() for t in tables}


ALL_WRITE_TABLES = (
    "tenants",
    "projects",
    "users",
    "memberships",
    "api_tokens",
    "novels",
    "execution_requests",
    "events",
    "feedback",
)


def upload(
    client: httpx.Client,
    headers: dict[str, str],
    tenant: str,
    project: str,
    slug: str,
    data: bytes = TWO_CHAPTERS,
) -> httpx.Response:
    """A raw-body upload (the multipart form is exercised by the tests themselves)."""
    return client.post(
        f"/v1/projects/{tenant}/{project}/novels",
        params={"slug": slug, "title": slug},
        content=data,
        headers={**headers, "Content-Type": "text/plain"},
    )
