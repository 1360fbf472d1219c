"""Shared by every section of the gateway service: text and id checks, project access."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from nf_gateway import schemas
from nf_gateway.principal import Need, Principal
from shared.errors import NFError
from shared.models import Base
from shared.slugs import validate_slug

T = Base.metadata.tables
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f-\x9f]{1,64}@[^@\s\x00-\x1f\x7f-\x9f]{1,190}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


# Characters never allowed in names and titles: every control (Cc: CR, LF and TAB too), format
# character (Cf: bidi overrides and isolates such as U+202E, zero-width space/joiners, BOM),
# line/paragraph separator, surrogate and private-use code point of the BMP. Comments are
# multi-line: TAB, LF and CR are allowed there, and ZWJ/ZWNJ (emoji, Indic and Persian text),
# but no other control and no bidi control. The classes are the ones the OpenAPI schema
# publishes as patterns (nf_gateway.schemas), so a client can check a name before sending it.
_NAME_BAD_RE = re.compile(f"[{schemas.NAME_BAD}\\ud800-\\udfff]")
_COMMENT_BAD_RE = re.compile(f"[{schemas.COMMENT_BAD}\\ud800-\\udfff]")


def _bad_char(value: str, multiline: bool) -> str | None:
    if value.isascii() and value.isprintable():
        return None
    bad = (_COMMENT_BAD_RE if multiline else _NAME_BAD_RE).search(value)
    return bad.group() if bad else None


def clean_text(
    value: str | None, what: str, max_len: int, *, required: bool = False, multiline: bool = False
) -> str | None:
    """Free text (titles, names, comments): bounded length, no control, format (bidi,
    zero-width), separator, surrogate, private-use or unassigned characters (NF-INPUT-006).
    `multiline` (comments) allows TAB/CR/LF and the zero-width joiners."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise NFError("NF-INPUT-001", f"{what} is required")
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise NFError("NF-INPUT-006", f"{what} must be a string of at most {max_len} characters")
    bad = _bad_char(value, multiline)
    if bad is not None:
        raise NFError(
            "NF-INPUT-006",
            f"{what} must not contain control, bidi or zero-width characters (U+{ord(bad):04X})",
        )
    return value.strip()


def check_email(value: str) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise NFError("NF-INPUT-001", "a valid e-mail address is required")
    return value.strip().lower()


def parse_uuid(value: Any, what: str = "id") -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NFError("NF-INPUT-010", f"no {what} {value!r}") from None


def require_project(conn: Connection, tenant_id: str, project_id: str) -> None:
    p = T["projects"]
    found = conn.execute(
        select(p.c.id).where(p.c.tenant_id == tenant_id, p.c.id == project_id)
    ).first()
    if found is None:
        raise NFError("NF-TENANCY-001", f"no project {tenant_id}/{project_id} that you can access")


def authorize_project(principal: Principal, tenant_id: str, project_id: str, need: Need) -> None:
    validate_slug(tenant_id, "tenant")
    validate_slug(project_id, "project")
    principal.check(tenant_id, project_id, need)
