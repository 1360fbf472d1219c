"""Putting a novel into a project: store the raw bytes, create the novels row, return its key.

Used by the CLI, the gateway and the main job alike, so all three apply the same rules.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.models import Base
from shared.slugs import PartitionKey, validate_slug
from shared.storage import LocalArtifactStore

T = Base.metadata.tables


@dataclass(frozen=True)
class NovelRef:
    id: uuid.UUID
    partition_key: str
    source_path: str
    created: bool


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
    store: LocalArtifactStore,
    *,
    tenant_id: str,
    project_id: str,
    slug: str,
    data: bytes,
    title: str,
    trace_id: str,
    idempotency_key: str | None = None,
) -> NovelRef:
    """Idempotent by partition key: registering the same slug again returns the stored novel."""
    key = str(PartitionKey(tenant_id, project_id, validate_slug(slug, "novel slug")))
    PartitionKey.parse(key)
    blob = store.put_bytes(data, "txt")
    novels = T["novels"]
    with engine.begin() as conn:
        new_id = conn.execute(
            pg_insert(novels)
            .values(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                project_id=project_id,
                trace_id=trace_id,
                idempotency_key=idempotency_key or f"novel:{key}",
                slug=slug,
                title=title,
                partition_key=key,
                source_sha256=hashlib.sha256(data).hexdigest(),
                source_path=blob.path,
                char_count=0,
                chapter_count=0,
            )
            .on_conflict_do_nothing()
            .returning(novels.c.id)
        ).scalar()
        if new_id is not None:
            return NovelRef(new_id, key, blob.path, True)
        row = conn.execute(
            select(novels.c.id, novels.c.source_path).where(novels.c.partition_key == key)
        ).one()
    return NovelRef(row.id, key, row.source_path, False)
