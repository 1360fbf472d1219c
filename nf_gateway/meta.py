"""Per-route metadata published in the OpenAPI schema (and so in the generated docs): the role a
route needs, the error codes it can answer with, and the studio screen that uses it."""

from __future__ import annotations

from typing import Any

from nf_gateway.errors import ErrorBody
from shared.errors import get

AUTH_ERRORS = ("NF-AUTH-002", "NF-AUTH-003")
# Any route: an invalid body or parameter, and the limits every body passes through
# (nf_gateway.middleware.BodyLimitMiddleware): too large, nested too deep, lone surrogates.
EVERY_ROUTE = ("NF-INPUT-001", "NF-INPUT-014", "NF-INPUT-015", "NF-INPUT-016")


def route(
    *,
    role: str,
    errors: tuple[str, ...],
    studio: str,
    authenticated: bool = True,
    replay_model: type | None = None,
) -> dict[str, Any]:
    """kwargs for a FastAPI route decorator: `responses` per error status + x-nf-* extensions.

    Every route may answer EVERY_ROUTE's codes.
    `replay_model`: a write whose replay answers 200 with the original result.
    """
    codes = sorted({*(AUTH_ERRORS if authenticated else ()), *errors, *EVERY_ROUTE})
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(get(code).http_status, []).append(code)
    responses: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorBody, "description": ", ".join(c)}
        for status, c in sorted(by_status.items())
    }
    if replay_model is not None:
        responses[200] = {
            "model": replay_model,
            "description": "Replay of an earlier write "
            "with the same Idempotency-Key (header Idempotent-Replayed: true)",
        }
    return {
        "responses": responses,
        "openapi_extra": {"x-nf-role": role, "x-nf-error-codes": codes, "x-nf-studio": studio},
    }
