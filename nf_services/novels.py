"""Putting a novel into a project: store the raw bytes, create the novels row, return its key.

The CLI and the main job call `register_novel`; the gateway calls `register_upload` inside its
tenant-scoped transaction: one set of rules for all three. Both admit the bytes first
(nf_services.admission: size, text, chapters), so a refused file leaves no blob and no row.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_services.admission import Admission, admit
from nf_services.submissions import NovelUpload, register_upload
from shared.errors import NFError
from shared.models import Base
from shared.slugs import PartitionKey, validate_slug
from shared.storage import ArtifactStore

T = Base.metadata.tables


def ensure_tenant_project(engine: Engine, tenant_id: str, project_id: str) -> None:
    validate_slug(tenant_id, "tenant")
    validate_slug(project_id, "project")
    with engine.begin() as conn:
        conn.execute(
            pg_insert(T["tenants"]).values(id=tenant_id, name=tenant_id).on_conflict_do_nothing()
        )
        conn.execute(
            pg_insert(T["projects"])
            .values(tenant_id=tenant_id, id=project_id, name=project_id)
            .on_conflict_do_nothing()
        )


def register_novel(
    engine: Engine,
    store: ArtifactStore,
    *,
    tenant_id: str,
    project_id: str,
    slug: str,
    data: bytes,
    title: str,
    trace_id: str,
    admission: Admission | None = None,
) -> NovelUpload:
    """Store the bytes and write the novels row (`register_upload`'s rules: the same bytes again
    return the stored novel, other bytes under a taken slug are refused with NF-DB-002).

    The admission policy runs first (unless `admission` is the caller's verdict on these very
    bytes): a refused file (NF-INPUT-0xx) writes nothing."""
    validate_slug(slug, "novel slug")
    if admission is None or admission.sha256 != hashlib.sha256(data).hexdigest():
        admit(data)
    blob = store.put_bytes(data, "txt")
    with engine.begin() as conn:
        return register_upload(
            conn,
            tenant_id=tenant_id,
            project_id=project_id,
            slug=slug,
            title=title,
            source_sha256=blob.sha256,
            source_path=blob.path,
            trace_id=trace_id,
        )


def find_novel_id(engine: Engine, tenant: str, project: str, novel: str | None) -> uuid.UUID | None:
    """The id of the novel of tenant/project named by its slug or partition key (None for no
    name); a malformed name is refused before the query (NF-INPUT-005/006), a missing one is
    NF-INPUT-010."""
    if not novel:
        return None
    slug = (
        PartitionKey.parse(novel).novel_slug if "." in novel else validate_slug(novel, "novel slug")
    )
    t = T["novels"]
    with engine.connect() as conn:
        nid = conn.execute(
            select(t.c.id).where(
                t.c.tenant_id == tenant, t.c.project_id == project, t.c.slug == slug
            )
        ).scalar()
    if nid is None:
        raise NFError("NF-INPUT-010", f"no novel {novel!r} in {tenant}/{project}")
    return nid
