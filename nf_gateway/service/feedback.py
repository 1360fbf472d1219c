"""Feedback on results (SKILL_22 reads it)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from nf_gateway.principal import Need, Principal
from nf_gateway.service.common import clean_text, parse_uuid
from nf_services import submissions
from shared.errors import NFError
from shared.models import Base

T = Base.metadata.tables


FEEDBACK_TARGETS = ("artifact", "chapter")


def post_feedback(
    engine: Engine,
    principal: Principal,
    *,
    target_kind: str,
    target_id: Any,
    rating: int,
    idempotency_key: str | None,
    trace_id: str,
    tags: list[str] | None = None,
    comment: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Feedback on an artifact or chapter into `feedback` (SKILL_22 reads it). Idempotent per
    (tenant, project, user, key) within the retention period: a replay returns the caller's
    stored row, a different body is NF-INPUT-008."""
    key = submissions.validate_idempotency_key(idempotency_key)
    if target_kind not in FEEDBACK_TARGETS:
        raise NFError("NF-INPUT-001", f"target_kind must be one of {FEEDBACK_TARGETS}")
    tid = parse_uuid(target_id, target_kind)
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise NFError("NF-INPUT-001", "rating must be an integer 1-5")
    tags = [clean_text(t, "tag", 64, required=True) for t in (tags or [])]
    if len(tags) > 20:
        raise NFError("NF-INPUT-001", "at most 20 tags")
    comment = clean_text(comment, "comment", 4000, multiline=True)
    fb = T["feedback"]
    with submissions.scoped(engine, principal.scope()) as conn:
        if target_kind == "artifact":
            a = T["artifacts"]
            target = conn.execute(
                select(a.c.tenant_id, a.c.project_id, a.c.skill_id, a.c.skill_version).where(
                    a.c.id == tid
                )
            ).first()
        else:
            # A chapter is rated as its newest video: SKILL_22 groups by the producing skill.
            c, a = T["chapters"], T["artifacts"]
            video = (
                select(a.c.skill_id, a.c.skill_version)
                .where(
                    a.c.novel_id == c.c.novel_id, a.c.chapter_index == c.c.index, a.c.kind == "mp4"
                )
                .order_by(a.c.created_at.desc())
                .limit(1)
                .lateral()
            )
            target = conn.execute(
                select(c.c.tenant_id, c.c.project_id, video.c.skill_id, video.c.skill_version)
                .select_from(c.outerjoin(video, text("true")))
                .where(c.c.id == tid)
            ).first()
        if target is None or not principal.can(target.tenant_id, target.project_id):
            raise NFError("NF-INPUT-010", f"no {target_kind} {tid}")
        principal.check(target.tenant_id, target.project_id, Need.WRITE)
        body = {
            "target_kind": target_kind,
            "target_id": str(tid),
            "rating": rating,
            "tags": tags,
            "comment": comment,
        }
        stored_key = submissions.scoped_key(target.project_id, principal.user_id, key)
        old = conn.execute(
            select(fb.c.id, fb.c.created_at).where(
                fb.c.tenant_id == target.tenant_id, fb.c.idempotency_key == stored_key
            )
        ).first()
        if old is not None and old.created_at < submissions.retention_cutoff():
            submissions.expire_key(conn, "feedback", old.id, stored_key)
        new_id = conn.execute(
            pg_insert(fb)
            .values(
                id=uuid.uuid4(),
                tenant_id=target.tenant_id,
                project_id=target.project_id,
                trace_id=trace_id,
                idempotency_key=stored_key,
                target_kind=target_kind,
                target_id=str(tid),
                rating=rating,
                tags=tags,
                comment=comment,
                user_id=principal.user_id,
                skill_id=target.skill_id,
                skill_version=target.skill_version,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
            .returning(fb.c.id)
        ).scalar()
        row = conn.execute(
            select(fb).where(fb.c.tenant_id == target.tenant_id, fb.c.idempotency_key == stored_key)
        ).first()
    stored = {
        "target_kind": row.target_kind,
        "target_id": row.target_id,
        "rating": row.rating,
        "tags": list(row.tags),
        "comment": row.comment,
    }
    if new_id is None and stored != body:
        raise NFError("NF-INPUT-008", f"Idempotency-Key {key!r} was used for other feedback")
    out = {
        c: getattr(row, c)
        for c in (
            "id",
            "tenant_id",
            "project_id",
            "trace_id",
            "target_kind",
            "target_id",
            "rating",
            "comment",
            "skill_id",
            "skill_version",
            "created_at",
        )
    }
    out["tags"] = list(row.tags)
    return out, new_id is not None
