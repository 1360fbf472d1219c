"""The error-code registry: every failure in nf carries one of these codes.

A code is `NF-<DOMAIN>-<NNN>`. Retryable codes are retried with backoff (shared.retry); the
others fail fast. The database refuses codes that are not registered (FK to `error_codes`, which
`shared.db.sync_error_codes` keeps equal to this registry). docs/architecture/error-codes.md is
generated from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorDomain(StrEnum):
    INPUT = "INPUT"
    AUTH = "AUTH"
    TENANCY = "TENANCY"
    DB = "DB"
    STORAGE = "STORAGE"
    PROVIDER = "PROVIDER"
    SKILL = "SKILL"
    GATE = "GATE"
    MEDIA = "MEDIA"
    ORCH = "ORCH"
    RAG = "RAG"
    GOV = "GOV"
    INTERNAL = "INTERNAL"


@dataclass(frozen=True)
class ErrorCode:
    code: str
    domain: ErrorDomain
    retryable: bool
    http_status: int
    message: str


_CODES = [
    # input
    ErrorCode("NF-INPUT-001", ErrorDomain.INPUT, False, 422, "The request body is invalid."),
    ErrorCode(
        "NF-INPUT-002",
        ErrorDomain.INPUT,
        False,
        415,
        "The file is not text or its encoding cannot be decoded.",
    ),
    ErrorCode(
        "NF-INPUT-003", ErrorDomain.INPUT, False, 413, "The upload is larger than the allowed size."
    ),
    ErrorCode(
        "NF-INPUT-004", ErrorDomain.INPUT, False, 422, "The file is empty or has no usable text."
    ),
    ErrorCode(
        "NF-INPUT-005", ErrorDomain.INPUT, False, 422, "The partition key (novel slug) is invalid."
    ),
    ErrorCode(
        "NF-INPUT-006",
        ErrorDomain.INPUT,
        False,
        422,
        "The name contains characters that are not allowed.",
    ),
    ErrorCode(
        "NF-INPUT-007", ErrorDomain.INPUT, False, 400, "An Idempotency-Key header is required."
    ),
    ErrorCode(
        "NF-INPUT-008",
        ErrorDomain.INPUT,
        False,
        409,
        "The idempotency key was already used with a different body.",
    ),
    ErrorCode(
        "NF-INPUT-009", ErrorDomain.INPUT, False, 422, "No chapters could be found in the text."
    ),
    ErrorCode(
        "NF-INPUT-010", ErrorDomain.INPUT, False, 404, "The requested object does not exist."
    ),
    # admission policy (nf_services/admission.py); 012 and 013 are also given as warnings
    ErrorCode(
        "NF-INPUT-011",
        ErrorDomain.INPUT,
        False,
        422,
        "A chapter is larger than the allowed size (missing headings or line breaks).",
    ),
    ErrorCode(
        "NF-INPUT-012",
        ErrorDomain.INPUT,
        False,
        422,
        "Part of the text is in no chapter and would be left out.",
    ),
    ErrorCode(
        "NF-INPUT-013",
        ErrorDomain.INPUT,
        False,
        422,
        "No chapter headings were found; the text was cut into parts by size.",
    ),
    # gateway input limits (nf_gateway/limits.py)
    ErrorCode(
        "NF-INPUT-014",
        ErrorDomain.INPUT,
        False,
        422,
        "A JSON value is nested too deeply or has too many items.",
    ),
    ErrorCode(
        "NF-INPUT-015",
        ErrorDomain.INPUT,
        False,
        422,
        "The text is not valid Unicode (a lone surrogate).",
    ),
    ErrorCode(
        "NF-INPUT-016", ErrorDomain.INPUT, False, 413, "The request body is larger than allowed."
    ),
    # auth
    ErrorCode("NF-AUTH-001", ErrorDomain.AUTH, False, 401, "Wrong user name or password."),
    ErrorCode(
        "NF-AUTH-002", ErrorDomain.AUTH, False, 401, "The token is missing, malformed or expired."
    ),
    ErrorCode("NF-AUTH-003", ErrorDomain.AUTH, False, 401, "The token was revoked."),
    ErrorCode("NF-AUTH-004", ErrorDomain.AUTH, False, 403, "Your role does not allow this action."),
    ErrorCode(
        "NF-AUTH-005",
        ErrorDomain.AUTH,
        True,
        429,
        "Too many sign-in attempts; retry after the Retry-After header's seconds.",
    ),
    ErrorCode(
        "NF-AUTH-006",
        ErrorDomain.AUTH,
        False,
        409,
        "The user has the maximum number of active API tokens; revoke one first.",
    ),
    # tenancy
    ErrorCode(
        "NF-TENANCY-001",
        ErrorDomain.TENANCY,
        False,
        404,
        "The tenant or project does not exist or is not yours.",
    ),
    ErrorCode(
        "NF-TENANCY-002",
        ErrorDomain.TENANCY,
        False,
        409,
        "Rows without tenant_id/project_id remain; run the backfill first.",
    ),
    ErrorCode(
        "NF-TENANCY-003",
        ErrorDomain.TENANCY,
        False,
        409,
        "A tenant must keep at least one owner.",
    ),
    ErrorCode(
        "NF-TENANCY-004",
        ErrorDomain.TENANCY,
        True,
        429,
        "The tenant's request quota is used up for now; retry after Retry-After seconds.",
    ),
    # database
    ErrorCode("NF-DB-001", ErrorDomain.DB, True, 503, "The database is unavailable."),
    ErrorCode("NF-DB-002", ErrorDomain.DB, False, 409, "The write conflicts with an existing row."),
    ErrorCode("NF-DB-003", ErrorDomain.DB, True, 503, "A lock or statement timeout was hit."),
    # storage
    ErrorCode(
        "NF-STORAGE-001",
        ErrorDomain.STORAGE,
        False,
        400,
        "The artifact path escapes the artifact root.",
    ),
    ErrorCode(
        "NF-STORAGE-002", ErrorDomain.STORAGE, False, 404, "The artifact is missing from storage."
    ),
    ErrorCode(
        "NF-STORAGE-003", ErrorDomain.STORAGE, True, 503, "The artifact store could not be written."
    ),
    ErrorCode(
        "NF-STORAGE-004",
        ErrorDomain.STORAGE,
        False,
        500,
        "The artifact store's configuration is invalid (backend, bucket, endpoint or extra).",
    ),
    ErrorCode(
        "NF-STORAGE-005", ErrorDomain.STORAGE, True, 503, "The artifact store could not be read."
    ),
    # providers
    ErrorCode(
        "NF-PROVIDER-001",
        ErrorDomain.PROVIDER,
        True,
        503,
        "The provider rate-limited the call (429).",
    ),
    ErrorCode(
        "NF-PROVIDER-002",
        ErrorDomain.PROVIDER,
        True,
        502,
        "The provider failed with a server error (5xx).",
    ),
    ErrorCode("NF-PROVIDER-003", ErrorDomain.PROVIDER, True, 504, "The provider timed out."),
    ErrorCode(
        "NF-PROVIDER-004",
        ErrorDomain.PROVIDER,
        False,
        502,
        "The provider returned a malformed response.",
    ),
    ErrorCode(
        "NF-PROVIDER-005",
        ErrorDomain.PROVIDER,
        False,
        502,
        "The provider refused the request (4xx).",
    ),
    ErrorCode(
        "NF-PROVIDER-006", ErrorDomain.PROVIDER, False, 500, "The provider is not configured."
    ),
    ErrorCode(
        "NF-PROVIDER-007",
        ErrorDomain.PROVIDER,
        False,
        503,
        "The provider's circuit breaker is open after repeated failures; the call was not made.",
    ),
    ErrorCode(
        "NF-PROVIDER-008",
        ErrorDomain.PROVIDER,
        False,
        503,
        "The run's provider deadline is spent; the call was not made.",
    ),
    # skills
    ErrorCode(
        "NF-SKILL-001", ErrorDomain.SKILL, False, 500, "A skill received input it cannot process."
    ),
    ErrorCode(
        "NF-SKILL-002",
        ErrorDomain.SKILL,
        False,
        500,
        "A skill produced output that fails its contract.",
    ),
    ErrorCode("NF-SKILL-003", ErrorDomain.SKILL, False, 404, "The skill version is unknown."),
    # quality gates
    ErrorCode("NF-GATE-001", ErrorDomain.GATE, False, 422, "Content gate (SKILL_16) failed."),
    ErrorCode("NF-GATE-002", ErrorDomain.GATE, False, 422, "Media gate (SKILL_18) failed."),
    ErrorCode(
        "NF-GATE-003", ErrorDomain.GATE, False, 422, "The degradation loop ran out of fallbacks."
    ),
    # media tools
    ErrorCode("NF-MEDIA-001", ErrorDomain.MEDIA, False, 500, "ffmpeg failed to compose the video."),
    ErrorCode("NF-MEDIA-002", ErrorDomain.MEDIA, False, 500, "Speech synthesis failed."),
    ErrorCode("NF-MEDIA-003", ErrorDomain.MEDIA, False, 500, "The image could not be rendered."),
    ErrorCode(
        "NF-MEDIA-004",
        ErrorDomain.MEDIA,
        False,
        422,
        "The project's video settings (motion, music, formats, exports) are invalid.",
    ),
    # orchestration
    ErrorCode("NF-ORCH-001", ErrorDomain.ORCH, True, 503, "The Dagster run failed to launch."),
    ErrorCode("NF-ORCH-002", ErrorDomain.ORCH, False, 500, "The Dagster run failed."),
    ErrorCode("NF-ORCH-003", ErrorDomain.ORCH, False, 409, "The run was cancelled."),
    ErrorCode(
        "NF-ORCH-004",
        ErrorDomain.ORCH,
        True,
        500,
        "The run's process died (killed, crashed or timed out) before the run ended.",
    ),
    ErrorCode(
        "NF-ORCH-005",
        ErrorDomain.ORCH,
        False,
        500,
        "Distributed execution is unavailable: the 'distributed' extra (dagster-celery, celery) "
        "is missing, the broker cannot be reached, or the task is not an nf media executor.",
    ),
    # RAG
    ErrorCode(
        "NF-RAG-001", ErrorDomain.RAG, False, 404, "No active embedding version for the project."
    ),
    ErrorCode(
        "NF-RAG-002",
        ErrorDomain.RAG,
        False,
        422,
        "The embedding dimensions do not match the version.",
    ),
    ErrorCode(
        "NF-RAG-003",
        ErrorDomain.RAG,
        False,
        409,
        "The embedding version is in the wrong state for this action.",
    ),
    # governance
    ErrorCode(
        "NF-GOV-001",
        ErrorDomain.GOV,
        False,
        409,
        "The proposal transition is not allowed from its current state.",
    ),
    ErrorCode(
        "NF-GOV-002", ErrorDomain.GOV, False, 409, "The promotion gate refused the proposal."
    ),
    ErrorCode(
        "NF-GOV-003",
        ErrorDomain.GOV,
        False,
        422,
        "The experiment does not have enough samples yet.",
    ),
    ErrorCode(
        "NF-GOV-004",
        ErrorDomain.GOV,
        False,
        409,
        "A governance asset was swept into a backfill of other assets; run it from its own job.",
    ),
    # last resort: counted as uncovered by the observer's coverage metric
    ErrorCode("NF-INTERNAL-000", ErrorDomain.INTERNAL, False, 500, "Unexpected internal error."),
]

REGISTRY: dict[str, ErrorCode] = {c.code: c for c in _CODES}
UNCLASSIFIED = "NF-INTERNAL-000"


def get(code: str) -> ErrorCode:
    try:
        return REGISTRY[code]
    except KeyError:
        raise KeyError(f"{code!r} is not a registered error code") from None


class NFError(Exception):
    """An error with a registered code; carries the user-facing message and HTTP status."""

    def __init__(self, code: str, detail: str | None = None, **context: object) -> None:
        self.error = get(code)
        self.detail = detail or self.error.message
        self.context = context
        super().__init__(f"[{code}] {self.detail}")

    def __reduce__(self):  # rebuilt from its parts: raised in a pool worker, read in the parent
        return _rebuild, (self.code, self.detail, self.context)

    @property
    def code(self) -> str:
        return self.error.code

    @property
    def retryable(self) -> bool:
        return self.error.retryable

    @property
    def http_status(self) -> int:
        return self.error.http_status

    def to_dict(self) -> dict[str, object]:
        return {"error_code": self.code, "message": self.detail, "retryable": self.retryable}


def _rebuild(code: str, detail: str, context: dict) -> NFError:
    return NFError(code, detail, **context)


# PostgreSQL SQLSTATEs of a lock wait or statement that timed out (retryable as NF-DB-003).
_PG_TIMEOUTS = {"55P03", "57014", "40P01", "40001"}


def classify(exc: BaseException) -> NFError:
    """The registered error for any exception: an NFError is itself; a lost or refused database
    connection is NF-DB-001 and a lock/statement timeout NF-DB-003 (both retryable); anything
    else is NF-INTERNAL-000 with the exception's type and message."""
    if isinstance(exc, NFError):
        return exc
    from sqlalchemy import exc as sa_exc

    detail = f"{type(exc).__name__}: {exc}"[:2000]
    if isinstance(exc, sa_exc.DBAPIError):
        pgcode = getattr(exc.orig, "pgcode", None)
        if pgcode in _PG_TIMEOUTS:
            return NFError("NF-DB-003", detail)
        if exc.connection_invalidated or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        ):
            return NFError("NF-DB-001", detail)
    return NFError(UNCLASSIFIED, detail)
