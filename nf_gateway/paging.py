"""Cursor (keyset) pagination of list endpoints.

A list answers at most `limit` rows in a stable order; when more follow, the response carries
`X-Next-Cursor: <cursor>` and `Link: <...&cursor=...>; rel="next"`. The cursor is opaque to the
client (base64url JSON of the last row's sort key): the next page is `WHERE (key) > (cursor)`,
so pages neither skip nor repeat rows while others insert.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection, DateTime, Integer, Select, Uuid, tuple_

from shared.errors import NFError

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def _encode(values: tuple[Any, ...]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else str(v) for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).rstrip(b"=").decode()


def _decode(cursor: str, keys: tuple[Any, ...]) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError("shape")
        out: list[Any] = []
        for col, v in zip(keys, raw, strict=True):
            if isinstance(col.type, DateTime):
                out.append(datetime.fromisoformat(v))
            elif isinstance(col.type, Uuid):
                out.append(uuid.UUID(v))
            elif isinstance(col.type, Integer):
                out.append(int(v))
            else:
                out.append(str(v))
        return out
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        raise NFError("NF-INPUT-001", "the cursor is not one this server issued") from None


def paginate(
    conn: Connection,
    stmt: Select,
    keys: tuple[Any, ...],
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    *,
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """(rows, next cursor or None) of `stmt` ordered by `keys` (unique together)."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    if cursor:
        after = _decode(cursor, keys)
        key = tuple_(*keys)
        stmt = stmt.where(key < tuple_(*after) if descending else key > tuple_(*after))
    order = [k.desc() for k in keys] if descending else list(keys)
    rows = conn.execute(stmt.order_by(*order).limit(limit + 1)).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]._mapping
    return rows, _encode(tuple(last[k.name] for k in keys))


def link_next(request: Request, response: Response, next_cursor: str | None) -> None:
    """Publish the next page's cursor in X-Next-Cursor and a Link header."""
    if next_cursor is None:
        return
    url = request.url.include_query_params(cursor=next_cursor)
    response.headers["X-Next-Cursor"] = next_cursor
    response.headers["Link"] = f'<{url}>; rel="next"'
