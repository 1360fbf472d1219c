"""Request and response bodies of the HTTP API (the OpenAPI schema is generated from these).

Slugs and free text are plain bounded strings here; their finer rules (NF-INPUT-005/006) are
checked by the service layer so the gateway and the CLI refuse the same inputs with the same
codes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

Slug = str
# What the service layer enforces on slugs (shared.slugs.SLUG_RE), published in the schema.
SLUG_PATTERN = "^[a-z0-9][a-z0-9_-]{0,62}$"
FREE_JSON = (
    "Free JSON object: at most 16 KiB serialized, nested at most 32 levels (NF-INPUT-014), "
    "at most 2000 values, no NUL, no lone surrogates (NF-INPUT-015)."
)
NAME_RULE = (
    "No control (CR, LF, TAB included), bidi (e.g. U+202E) or zero-width characters (NF-INPUT-006)."
)
# The characters the service refuses in names and titles (nf_gateway.service.clean_text uses
# these very classes): every control (Cc), format (Cf: bidi, zero-width, BOM), surrogate,
# private-use and line/paragraph separator code point of the Basic Multilingual Plane (lone
# surrogates never get this far: NF-INPUT-015). Published as patterns (json_schema_extra: the
# service checks them with Python's re, the schema's dialect).
NAME_BAD = (
    "\\x00-\\x1f\\x7f-\\x9f\\xad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890-\\u0891\\u08e2"
    "\\u180e\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f\\ue000-\\uf8ff\\ufeff"
    "\\ufff9-\\ufffb"
)
# Comments are multi-line: TAB, LF, CR and the zero-width joiners are allowed there; other
# controls, bidi controls, surrogates, separators and the BOM are not.
COMMENT_BAD = (
    "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028-\\u202e"
    "\\u2066-\\u2069\\ufeff"
)
# Whitespace that str.strip() removes and NAME_BAD does not already refuse.
_SPACE = " \\xa0\\u1680\\u2000-\\u200a\\u202f\\u205f\\u3000"
NAME_PATTERN = f"^[^{NAME_BAD}]*$"
# A required name: at least one character that is not whitespace (blank = missing).
NAME_REQUIRED_PATTERN = f"^[^{NAME_BAD}]*[^{NAME_BAD}{_SPACE}][^{NAME_BAD}]*$"
COMMENT_PATTERN = f"^[^{COMMENT_BAD}]*$"
# What the service accepts as an e-mail address (surrounding whitespace is stripped).
# C1 controls (U+0080-U+009F) excluded by name: U+0085 is whitespace to Python, not to ECMA
EMAIL_PATTERN = "^\\s*[^@\\s\\x00-\\x1f\\x7f-\\x9f]{1,64}@[^@\\s\\x00-\\x1f\\x7f-\\x9f]{1,190}\\s*$"
NO_NUL_PATTERN = "^[^\\x00]*$"
_SLUG = "[a-z0-9][a-z0-9_-]{0,62}"
# A novel named by its slug or by its partition key <tenant>.<project>.<slug>.
NOVEL_REF_PATTERN = f"^{_SLUG}(\\.{_SLUG}\\.{_SLUG})?$"


_FREE_REF = {"$ref": "#/components/schemas/FreeJsonValue"}
_FREE_OBJECT = {
    "type": "object",
    "propertyNames": {"pattern": NO_NUL_PATTERN},
    "additionalProperties": _FREE_REF,
}
# Any JSON value without NUL in a key or a string (added to the OpenAPI components by the app).
FREE_JSON_VALUE = {
    "anyOf": [
        {"type": "string", "pattern": NO_NUL_PATTERN},
        {"type": ["number", "boolean", "null"]},
        {"type": "array", "items": _FREE_REF},
        _FREE_OBJECT,
    ]
}


def _publish_no_nul(schema: dict[str, Any]) -> None:
    """Every string field of a request body refuses NUL: say so in the schema (a string that
    already has a pattern excludes NUL through it)."""

    def mark(prop: dict[str, Any]) -> None:
        if prop.get("type") == "string" and not {"pattern", "enum", "format"} & prop.keys():
            prop["pattern"] = NO_NUL_PATTERN
        elif prop.get("type") == "object" and prop.get("additionalProperties") is True:
            prop.update(_FREE_OBJECT)  # free JSON: NUL refused at every depth
        elif prop.get("type") == "array" and isinstance(prop.get("items"), dict):
            mark(prop["items"])
        for alt in prop.get("anyOf", ()):
            mark(alt)

    for prop in schema.get("properties", {}).values():
        mark(prop)


class In(BaseModel):
    """A request body: unknown fields and NUL characters are refused (NF-INPUT-001)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_publish_no_nul)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        for v in items:
            if isinstance(v, str):
                if "\x00" in v:
                    raise ValueError("NUL characters are not allowed")
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError(LONE_SURROGATE) from None
        return value


LONE_SURROGATE = "lone surrogate: the text is not valid Unicode"


class LoginIn(In):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class LoginOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user_id: uuid.UUID


class TokenIn(In):
    name: str = Field(
        max_length=100, json_schema_extra={"pattern": NAME_REQUIRED_PATTERN}, description=NAME_RULE
    )
    tenant_id: Slug | None = Field(
        default=None,
        max_length=63,
        json_schema_extra={"pattern": SLUG_PATTERN},
        description="Bind the token to one tenant.",
    )
    expires_in_days: int | None = Field(
        default=90,
        ge=1,
        le=366,
        description="Lifetime; null = the maximum (NF_API_TOKEN_MAX_DAYS, 366). A token created "
        "with an API token never outlives that token.",
    )


class TokenOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    tenant_id: str | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime


class NewTokenOut(TokenOut):
    token: str = Field(description="The secret; shown only in this response.")


class MembershipView(BaseModel):
    tenant_id: str
    project_id: str | None
    role: str


class MeOut(BaseModel):
    user_id: uuid.UUID
    email: str
    is_operator: bool
    token_id: uuid.UUID | None
    token_tenant: str | None
    memberships: list[MembershipView]


class UserIn(In):
    email: str = Field(max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN})
    password: str = Field(min_length=8, max_length=1024)
    display_name: str | None = Field(
        default=None,
        max_length=200,
        json_schema_extra={"pattern": NAME_PATTERN},
        description=NAME_RULE,
    )
    is_operator: StrictBool = False  # 0/1 are not booleans: the schema says boolean


class UserOut(BaseModel):
    id: uuid.UUID
    email: str
    is_operator: bool
    created_at: datetime


class TenantIn(In):
    id: Slug = Field(max_length=63, json_schema_extra={"pattern": SLUG_PATTERN})
    name: str | None = Field(
        default=None,
        max_length=200,
        json_schema_extra={"pattern": NAME_PATTERN},
        description=NAME_RULE,
    )


class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class ProjectIn(In):
    id: Slug = Field(max_length=63, json_schema_extra={"pattern": SLUG_PATTERN})
    name: str | None = Field(
        default=None,
        max_length=200,
        json_schema_extra={"pattern": NAME_PATTERN},
        description=NAME_RULE,
    )
    config: dict[str, Any] = Field(default_factory=dict, description=FREE_JSON)


class ProjectOut(BaseModel):
    tenant_id: str
    id: str
    name: str
    config: dict[str, Any]
    created_at: datetime


class MembershipIn(In):
    email: str = Field(max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN})
    role: Literal["owner", "editor", "viewer"]
    project_id: Slug | None = Field(
        default=None, max_length=63, json_schema_extra={"pattern": SLUG_PATTERN}
    )


class MembershipOut(BaseModel):
    id: uuid.UUID
    tenant_id: str
    project_id: str | None
    role: str
    email: str
    created_at: datetime


class AdmissionWarningOut(BaseModel):
    code: str = Field(description="A registered error code (NF-INPUT-012, NF-INPUT-013)")
    message: str


class NovelOut(BaseModel):
    id: uuid.UUID
    tenant_id: str
    project_id: str
    slug: str
    title: str
    partition_key: str
    sha256: str
    size_bytes: int
    encoding: str
    language: str
    chapters: int
    created: bool
    warnings: list[AdmissionWarningOut] = Field(
        default_factory=list,
        description="Admitted, but the operator should know: no chapter headings found (the "
        "text was cut by size), part of the text in no chapter.",
    )


class NovelListItem(BaseModel):
    id: uuid.UUID
    slug: str
    title: str
    partition_key: str
    language: str | None
    chapter_count: int | None
    created_at: datetime


class ChapterMedia(BaseModel):
    id: uuid.UUID
    kind: str
    mime: str | None
    size_bytes: int | None


class ChapterOut(BaseModel):
    id: uuid.UUID
    index: int
    title: str | None
    char_count: int | None
    media: list[ChapterMedia] = Field(description="Newest video and subtitles of the chapter.")


class SubmitIn(In):
    novel: str = Field(
        max_length=200,
        description="The novel's slug (or its full partition key) in this project: NF-INPUT-005 "
        "if neither, NF-INPUT-010 if no such novel is in this project.",
        json_schema_extra={"pattern": NOVEL_REF_PATTERN},
    )
    params: dict[str, Any] = Field(default_factory=dict, description=FREE_JSON)


class RunView(BaseModel):
    id: uuid.UUID
    dagster_run_id: str | None
    status: str
    stage: str
    error_code: str | None
    error_message: str | None
    started_at: datetime | None
    finished_at: datetime | None


class RequestOut(BaseModel):
    id: uuid.UUID
    tenant_id: str
    project_id: str
    trace_id: str
    idempotency_key: str | None
    partition_key: str | None
    novel_id: uuid.UUID | None
    status: str
    stage: str
    error_code: str | None
    error_message: str | None
    params: dict[str, Any]
    dagster_run_id: str | None
    created_at: datetime
    claimed_at: datetime | None
    finished_at: datetime | None
    run: RunView | None = None


class FeedbackIn(In):
    target_kind: Literal["artifact", "chapter"]
    target_id: uuid.UUID
    rating: int = Field(ge=1, le=5)
    tags: list[
        Annotated[str, Field(max_length=64, json_schema_extra={"pattern": NAME_REQUIRED_PATTERN})]
    ] = Field(default_factory=list, max_length=20, description=NAME_RULE)
    comment: str | None = Field(
        default=None,
        max_length=4000,
        json_schema_extra={"pattern": COMMENT_PATTERN},
        description="Multi-line: TAB, CR, LF allowed; no other control or bidi character.",
    )


class FeedbackOut(BaseModel):
    id: uuid.UUID
    tenant_id: str
    project_id: str
    trace_id: str
    target_kind: str
    target_id: str
    rating: int | None
    tags: list[str]
    comment: str | None
    skill_id: str | None
    skill_version: str | None
    created_at: datetime


class ArtifactOut(BaseModel):
    id: uuid.UUID
    tenant_id: str
    project_id: str
    trace_id: str
    job_id: uuid.UUID | None
    novel_id: uuid.UUID | None
    chapter_index: int | None
    kind: str
    mime: str | None
    sha256: str | None
    size_bytes: int | None
    skill_id: str | None
    skill_version: str | None
    created_at: datetime


class EventView(BaseModel):
    id: int
    topic: str
    stage: str | None
    request_id: uuid.UUID | None
    run_id: uuid.UUID | None
    job_id: uuid.UUID | None
    error_code: str | None
    error_message: str | None
    payload: dict[str, Any]
    trace_id: str
    created_at: datetime


class TraceJob(BaseModel):
    id: uuid.UUID
    trace_id: str
    skill_id: str
    skill_version: str | None
    chapter_index: int | None
    status: str
    stage: str
    attempt: int
    provider: str | None
    error_code: str | None
    error_message: str | None
    duration_ms: int | None
    artifacts: list[ArtifactOut]
    events: list[EventView]


class TraceRun(RunView):
    trace_id: str
    request_id: uuid.UUID | None
    partition_key: str | None
    retries: int
    jobs: list[TraceJob]
    events: list[EventView]


class TraceRequest(RequestOut):
    runs: list[TraceRun]
    events: list[EventView]


class TraceOut(BaseModel):
    trace_id: str
    requests: list[TraceRequest]
    runs: list[TraceRun] = Field(description="Runs of the trace without a request.")
    counts: dict[str, int]


class LogoutOut(BaseModel):
    logged_out: bool
    everywhere: bool


class PasswordIn(In):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class UserStateIn(In):
    disabled: StrictBool = Field(description="true: disable (ends every credential); false: enable")


class UserStateOut(UserOut):
    disabled: bool


class CancelOut(RequestOut):
    cancel_requested: bool = Field(
        description="true: Dagster was asked to terminate the run; the request turns cancelled "
        "when the run has stopped. false: the request was cancelled here (or had finished)."
    )


class Health(BaseModel):
    status: Literal["ok"]
    database: bool
