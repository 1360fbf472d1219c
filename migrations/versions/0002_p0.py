"""P0: standard fields, idempotency keys, registered error codes, stage/status enums, indexes.

Phase A (one transaction, lock_timeout 5s): enum types, the `error_codes` table (seeded from the
frozen list below), new nullable columns, legacy text converted to the enums (originals kept in
`legacy_values` until P2), unknown legacy error codes coerced to NF-INTERNAL-000, constraints
added NOT VALID. Phase B (autocommit): constraints validated and indexes built CONCURRENTLY, so
reads and writes continue. If phase B fails, phase A stays committed and a re-run resumes at B.

Legacy value mapping (documented in docs/runbooks/alembic-migration-plan-p0-p2.md):
- status: known spellings map to the enum; anything else becomes 'failed';
- stage: known spellings map to nf_stage; NULL or unknown is derived from the status
  (succeeded/cached -> done, failed -> failed, cancelled -> cancelled, else the table's first
  stage);
- a failed row without an error code, or with an unregistered one, gets NF-INTERNAL-000;
- event topics: known spellings map to the topic list; an unmappable topic becomes its family's
  most neutral topic (FAMILY_TOPIC, else run.stage_changed) and the event is marked published so
  the outbox never delivers it; the original topic and published_at stay in legacy_values.

Revision ID: 0002_p0
Revises: 0001_baseline
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from alembic import op

from migrations import ddl

revision: str = "0002_p0"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies: a later change to the Python enums needs its own revision.
STAGES = (
    "submitted", "queued", "ingest", "split", "understand", "persona", "script", "storyboard",
    "style", "plan", "compile", "render", "narrate", "compose", "gate", "export", "index", "done",
    "failed", "cancelled",
)  # fmt: skip
REQUEST_STATUS = ("pending", "claimed", "running", "succeeded", "failed", "cancelled")
RUN_STATUS = ("queued", "started", "succeeded", "failed", "cancelled")
JOB_STATUS = ("pending", "claimed", "succeeded", "failed", "cached")
EVENT_TOPICS = (
    "job.claimed", "job.succeeded", "job.failed", "run.started", "run.stage_changed",
    "run.retried", "run.finished", "request.created", "request.claimed", "proposal.transitioned",
    "rag.suggestion", "gate.degraded",
)  # fmt: skip
UNCLASSIFIED = "NF-INTERNAL-000"
ERROR_CODES = (
    ("NF-INPUT-001", "INPUT", False, 422, "The request body is invalid."),
    (
        "NF-INPUT-002",
        "INPUT",
        False,
        415,
        "The file is not text or its encoding cannot be decoded.",
    ),
    ("NF-INPUT-003", "INPUT", False, 413, "The upload is larger than the allowed size."),
    ("NF-INPUT-004", "INPUT", False, 422, "The file is empty or has no usable text."),
    ("NF-INPUT-005", "INPUT", False, 422, "The partition key (novel slug) is invalid."),
    ("NF-INPUT-006", "INPUT", False, 422, "The name contains characters that are not allowed."),
    ("NF-INPUT-007", "INPUT", False, 400, "An Idempotency-Key header is required."),
    (
        "NF-INPUT-008",
        "INPUT",
        False,
        409,
        "The idempotency key was already used with a different body.",
    ),
    ("NF-INPUT-009", "INPUT", False, 422, "No chapters could be found in the text."),
    ("NF-INPUT-010", "INPUT", False, 404, "The requested object does not exist."),
    ("NF-AUTH-001", "AUTH", False, 401, "Wrong user name or password."),
    ("NF-AUTH-002", "AUTH", False, 401, "The token is missing, malformed or expired."),
    ("NF-AUTH-003", "AUTH", False, 401, "The token was revoked."),
    ("NF-AUTH-004", "AUTH", False, 403, "Your role does not allow this action."),
    (
        "NF-TENANCY-001",
        "TENANCY",
        False,
        404,
        "The tenant or project does not exist or is not yours.",
    ),
    (
        "NF-TENANCY-002",
        "TENANCY",
        False,
        409,
        "Rows without tenant_id/project_id remain; run the backfill first.",
    ),
    ("NF-DB-001", "DB", True, 503, "The database is unavailable."),
    ("NF-DB-002", "DB", False, 409, "The write conflicts with an existing row."),
    ("NF-DB-003", "DB", True, 503, "A lock or statement timeout was hit."),
    ("NF-STORAGE-001", "STORAGE", False, 400, "The artifact path escapes the artifact root."),
    ("NF-STORAGE-002", "STORAGE", False, 404, "The artifact is missing from storage."),
    ("NF-STORAGE-003", "STORAGE", True, 503, "The artifact store could not be written."),
    ("NF-PROVIDER-001", "PROVIDER", True, 503, "The provider rate-limited the call (429)."),
    ("NF-PROVIDER-002", "PROVIDER", True, 502, "The provider failed with a server error (5xx)."),
    ("NF-PROVIDER-003", "PROVIDER", True, 504, "The provider timed out."),
    ("NF-PROVIDER-004", "PROVIDER", False, 502, "The provider returned a malformed response."),
    ("NF-PROVIDER-005", "PROVIDER", False, 502, "The provider refused the request (4xx)."),
    ("NF-PROVIDER-006", "PROVIDER", False, 500, "The provider is not configured."),
    ("NF-SKILL-001", "SKILL", False, 500, "A skill received input it cannot process."),
    ("NF-SKILL-002", "SKILL", False, 500, "A skill produced output that fails its contract."),
    ("NF-SKILL-003", "SKILL", False, 404, "The skill version is unknown."),
    ("NF-GATE-001", "GATE", False, 422, "Content gate (SKILL_16) failed."),
    ("NF-GATE-002", "GATE", False, 422, "Media gate (SKILL_18) failed."),
    ("NF-GATE-003", "GATE", False, 422, "The degradation loop ran out of fallbacks."),
    ("NF-MEDIA-001", "MEDIA", False, 500, "ffmpeg failed to compose the video."),
    ("NF-MEDIA-002", "MEDIA", False, 500, "Speech synthesis failed."),
    ("NF-MEDIA-003", "MEDIA", False, 500, "The image could not be rendered."),
    ("NF-ORCH-001", "ORCH", True, 503, "The Dagster run failed to launch."),
    ("NF-ORCH-002", "ORCH", False, 500, "The Dagster run failed."),
    ("NF-ORCH-003", "ORCH", False, 409, "The run was cancelled."),
    ("NF-RAG-001", "RAG", False, 404, "No active embedding version for the project."),
    ("NF-RAG-002", "RAG", False, 422, "The embedding dimensions do not match the version."),
    (
        "NF-RAG-003",
        "RAG",
        False,
        409,
        "The embedding version is in the wrong state for this action.",
    ),
    (
        "NF-GOV-001",
        "GOV",
        False,
        409,
        "The proposal transition is not allowed from its current state.",
    ),
    ("NF-GOV-002", "GOV", False, 409, "The promotion gate refused the proposal."),
    ("NF-GOV-003", "GOV", False, 422, "The experiment does not have enough samples yet."),
    ("NF-INTERNAL-000", "INTERNAL", False, 500, "Unexpected internal error."),
)

_DONE = {"done": "succeeded", "completed": "succeeded", "complete": "succeeded",
         "success": "succeeded", "succeeded": "succeeded", "ok": "succeeded",
         "finished": "succeeded", "error": "failed", "errored": "failed", "failure": "failed",
         "failed": "failed"}  # fmt: skip
REQUEST_STATUS_MAP = {
    **{s: s for s in REQUEST_STATUS}, **_DONE,
    "new": "pending", "queued": "pending", "waiting": "pending", "submitted": "pending",
    "picked": "claimed", "processing": "running", "in_progress": "running", "started": "running",
    "canceled": "cancelled", "aborted": "cancelled",
}  # fmt: skip
RUN_STATUS_MAP = {
    **{s: s for s in RUN_STATUS}, **_DONE,
    "pending": "queued", "new": "queued", "waiting": "queued", "running": "started",
    "in_progress": "started", "processing": "started",
    "canceled": "cancelled", "aborted": "cancelled",
}  # fmt: skip
JOB_STATUS_MAP = {
    **{s: s for s in JOB_STATUS}, **_DONE,
    "new": "pending", "queued": "pending", "waiting": "pending", "running": "claimed",
    "started": "claimed", "in_progress": "claimed", "processing": "claimed",
    "cache_hit": "cached", "hit": "cached",
}  # fmt: skip
STAGE_MAP = {
    **{s: s for s in STAGES},
    "new": "submitted", "pending": "submitted", "queue": "queued", "chapter_split": "split",
    "chapters": "split", "summarize": "understand", "analysis": "understand",
    "characters": "persona", "render_plan": "plan", "prompt": "compile", "prompts": "compile",
    "image": "render", "images": "render", "panels": "render", "tts": "narrate",
    "audio": "narrate", "video": "compose", "qa": "gate", "embed": "index", "rag": "index",
    "completed": "done", "finished": "done", "error": "failed", "canceled": "cancelled",
}  # fmt: skip
TOPIC_MAP = {
    **{t: t for t in EVENT_TOPICS},
    "job.started": "job.claimed", "job.done": "job.succeeded", "job.completed": "job.succeeded",
    "job.success": "job.succeeded", "job.error": "job.failed", "job.failure": "job.failed",
    "run.start": "run.started", "run.stage": "run.stage_changed", "run.retry": "run.retried",
    "run.done": "run.finished", "run.completed": "run.finished", "run.succeeded": "run.finished",
    "run.failed": "run.finished", "run.end": "run.finished", "run.ended": "run.finished",
    "request.new": "request.created", "request.submitted": "request.created",
    "request.picked": "request.claimed", "proposal.changed": "proposal.transitioned",
    "gate.fallback": "gate.degraded",
}  # fmt: skip
FAMILY_TOPIC = {
    "job": "job.claimed", "run": "run.stage_changed", "request": "request.created",
    "proposal": "proposal.transitioned", "rag": "rag.suggestion", "gate": "gate.degraded",
}  # fmt: skip
FALLBACK_TOPIC = "run.stage_changed"
TERMINAL_STAGE = {
    "succeeded": "done",
    "cached": "done",
    "failed": "failed",
    "cancelled": "cancelled",
}

TRACE_CHECK = "trace_id ~ '^[0-9a-f]{32}$'"
FAILED_CHECK = "status <> 'failed' OR error_code IS NOT NULL"
STD_COLUMNS = "ADD COLUMN tenant_id text, ADD COLUMN project_id text, ADD COLUMN trace_id text, " \
    "ADD COLUMN updated_at timestamptz"  # fmt: skip


class Conversion(NamedTuple):
    """A legacy table whose free-text status/stage become enum columns."""

    status_type: str
    status_map: dict[str, str]
    status_default: str
    legacy_status_default: str
    first_stage: str
    stage_default: str | None
    # NOT NULL columns that legacy rows may have NULL in: column -> fill expression.
    fills: dict[str, str] = {}  # noqa: RUF012 (NamedTuple field, never mutated)


CONVERSIONS = {
    "execution_requests": Conversion(
        "request_status", REQUEST_STATUS_MAP, "pending", "new", "submitted", "submitted",
        {"params": "'{}'::jsonb"},
    ),
    "render_runs": Conversion("run_status", RUN_STATUS_MAP, "queued", "queued", "queued", "queued"),
    "jobs": Conversion("job_status", JOB_STATUS_MAP, "pending", "pending", "queued", None,
                       {"attempt": "1"}),
}  # fmt: skip
COLUMN_DEFAULTS = {("execution_requests", "params"): "'{}'::jsonb"}

ADDED_COLUMNS = {
    "novels": "ADD COLUMN idempotency_key text, ADD COLUMN encoding text, "
    "ADD COLUMN partition_key text, ADD COLUMN source_sha256 text, ADD COLUMN char_count integer, "
    "ADD COLUMN chapter_count integer",
    "chapters": "ADD COLUMN text_sha256 text",
    "execution_requests": "ADD COLUMN idempotency_key text, ADD COLUMN request_hash text, "
    "ADD COLUMN requested_by uuid, ADD COLUMN dagster_run_id text, "
    "ADD COLUMN claimed_at timestamptz, ADD COLUMN finished_at timestamptz, "
    "ADD COLUMN legacy_values jsonb",
    "render_runs": "ADD COLUMN idempotency_key text, ADD COLUMN novel_id uuid, "
    "ADD COLUMN retries integer DEFAULT 0 NOT NULL, ADD COLUMN legacy_values jsonb",
    "jobs": "ADD COLUMN idempotency_key text, ADD COLUMN novel_id uuid, "
    "ADD COLUMN chapter_index integer, ADD COLUMN skill_version text, ADD COLUMN input_hash text, "
    "ADD COLUMN provider text, ADD COLUMN output_artifact_id uuid, ADD COLUMN duration_ms integer, "
    "ADD COLUMN legacy_values jsonb",
    "artifacts": "ADD COLUMN idempotency_key text, ADD COLUMN chapter_index integer, "
    "ADD COLUMN mime text, ADD COLUMN skill_id text, ADD COLUMN skill_version text, "
    "ADD COLUMN meta jsonb DEFAULT '{}'::jsonb NOT NULL",
    "events": "ADD COLUMN stage nf_stage, ADD COLUMN request_id uuid, ADD COLUMN run_id uuid, "
    "ADD COLUMN job_id uuid, ADD COLUMN error_code text, ADD COLUMN error_message text, "
    "ADD COLUMN legacy_values jsonb",
}
CORE_TABLES = tuple(ADDED_COLUMNS)
FAILURE_TABLES = ("execution_requests", "render_runs", "jobs", "events")

# (name, table, columns, unique, where): built CONCURRENTLY in phase B.
INDEXES: tuple[tuple[str, str, str, bool, str | None], ...] = (
    *((f"ix_{t}_tenant_project", t, "tenant_id, project_id", False, None) for t in CORE_TABLES),
    *((f"ix_{t}_trace_id", t, "trace_id", False, None) for t in CORE_TABLES),
    *((f"ix_{t}_status_created", t, "status, created_at", False, None) for t in CONVERSIONS),
    *((f"ix_{t}_error_code", t, "error_code", False, None) for t in FAILURE_TABLES),
    ("uq_novels_partition_key", "novels", "partition_key", True, None),
    ("ix_execution_requests_novel_id", "execution_requests", "novel_id", False, None),
    ("ix_render_runs_request_id", "render_runs", "request_id", False, None),
    ("ix_jobs_cache", "jobs", "tenant_id, skill_id, input_hash", False, None),
    ("ix_jobs_run_id", "jobs", "run_id", False, None),
    ("uq_jobs_idempotency", "jobs", "tenant_id, idempotency_key", True, None),
    ("ix_artifacts_job_id", "artifacts", "job_id", False, None),
    ("ix_artifacts_novel_chapter", "artifacts", "novel_id, chapter_index", False, None),
    ("ix_events_unpublished", "events", "id", False, "published_at IS NULL"),
    ("ix_events_run_id", "events", "run_id", False, None),
)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _case(expr: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN {_quote(k)} THEN {_quote(v)}" for k, v in mapping.items())
    return f"(CASE {expr} {whens} ELSE NULL END)"


def _enum_values(values: Sequence[str]) -> str:
    return ", ".join(_quote(v) for v in values)


# --------------------------------------------------------------------------------------------
# upgrade


def _phase_a() -> None:
    ddl.transactional_timeouts()
    for name, values in (
        ("nf_stage", STAGES),
        ("request_status", REQUEST_STATUS),
        ("run_status", RUN_STATUS),
        ("job_status", JOB_STATUS),
    ):
        op.execute(f"CREATE TYPE {name} AS ENUM ({_enum_values(values)})")

    op.execute(
        "CREATE TABLE error_codes (code text NOT NULL, domain text NOT NULL, "
        "retryable boolean NOT NULL, http_status integer NOT NULL, message text NOT NULL, "
        "CONSTRAINT pk_error_codes PRIMARY KEY (code))"
    )
    rows = ", ".join(
        f"({_quote(c)}, {_quote(d)}, {str(r).lower()}, {h}, {_quote(m)})"
        for c, d, r, h, m in ERROR_CODES
    )
    op.execute(
        f"INSERT INTO error_codes (code, domain, retryable, http_status, message) VALUES {rows}"
    )

    for table, added in ADDED_COLUMNS.items():
        op.execute(f"ALTER TABLE {table} {STD_COLUMNS}, {added}")
        # New rows get now(); existing rows stay NULL so the backfill can take created_at.
        op.execute(f"ALTER TABLE {table} ALTER COLUMN updated_at SET DEFAULT now()")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_trace_id_hex "
            f"CHECK ({TRACE_CHECK}) NOT VALID"
        )
    for table in ("execution_requests", "render_runs", "jobs"):
        op.execute(f"ALTER TABLE {table} RENAME COLUMN error TO error_message")

    # Slugs are unique per project now (partition_key carries tenant and project).
    op.execute("ALTER TABLE novels DROP CONSTRAINT uq_novels_slug")

    for table, conv in CONVERSIONS.items():
        _convert_status_stage(table, conv)
    _convert_events()

    for table in FAILURE_TABLES:
        _coerce_error_codes(table)
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_error_code_error_codes "
            "FOREIGN KEY (error_code) REFERENCES error_codes (code) NOT VALID"
        )
    for table in CONVERSIONS:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_failed_has_code "
            f"CHECK ({FAILED_CHECK}) NOT VALID"
        )


def _convert_status_stage(table: str, conv: Conversion) -> None:
    status_expr = f"COALESCE({_case('lower(btrim(status))', conv.status_map)}, 'failed')"
    derived = _case("x.new_status", TERMINAL_STAGE)
    mapped = _case("lower(btrim(x.stage))", STAGE_MAP)
    stage_expr = f"COALESCE({mapped}, {derived}, {_quote(conv.first_stage)})"
    legacy = [
        "CASE WHEN m.new_status IS DISTINCT FROM t.status "
        "THEN jsonb_build_object('status', t.status) ELSE '{}'::jsonb END",
        "CASE WHEN m.new_stage IS DISTINCT FROM t.stage "
        "THEN jsonb_build_object('stage', t.stage) ELSE '{}'::jsonb END",
        *(
            f"CASE WHEN t.{col} IS NULL THEN jsonb_build_object('{col}', NULL) "
            "ELSE '{}'::jsonb END"
            for col in conv.fills
        ),
    ]
    fill_sets = "".join(f", {col} = COALESCE(t.{col}, {expr})" for col, expr in conv.fills.items())
    fill_where = "".join(f" OR t.{col} IS NULL" for col in conv.fills)
    op.execute(
        f"UPDATE {table} AS t SET legacy_values = NULLIF({' || '.join(legacy)}, '{{}}'::jsonb), "
        f"status = m.new_status, stage = m.new_stage{fill_sets} "
        f"FROM (SELECT x.id, x.new_status, {stage_expr} AS new_stage "
        f"      FROM (SELECT id, stage, {status_expr} AS new_status FROM {table}) AS x) AS m "
        f"WHERE t.id = m.id AND (m.new_status IS DISTINCT FROM t.status "
        f"OR m.new_stage IS DISTINCT FROM t.stage{fill_where})"
    )
    op.execute(f"ALTER TABLE {table} ALTER COLUMN status DROP DEFAULT")
    # One statement: one table rewrite that also checks the NOT NULLs.
    not_nulls = "".join(f", ALTER COLUMN {col} SET NOT NULL" for col in conv.fills)
    op.execute(
        f"ALTER TABLE {table} "
        f"ALTER COLUMN status TYPE {conv.status_type} USING status::{conv.status_type}, "
        f"ALTER COLUMN stage TYPE nf_stage USING stage::nf_stage, "
        f"ALTER COLUMN stage SET NOT NULL{not_nulls}"
    )
    op.execute(f"ALTER TABLE {table} ALTER COLUMN status SET DEFAULT {_quote(conv.status_default)}")
    if conv.stage_default:
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN stage SET DEFAULT {_quote(conv.stage_default)}"
        )
    for col in conv.fills:
        default = COLUMN_DEFAULTS.get((table, col))
        if default:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {default}")


def _convert_events() -> None:
    normalized = r"regexp_replace(lower(btrim(topic)), '^([a-z]+)[_:/-]', '\1.')"
    family = _case("split_part(x.norm, '.', 1)", FAMILY_TOPIC)
    op.execute(
        "UPDATE events AS t SET "
        "legacy_values = NULLIF("
        "  CASE WHEN m.new_topic IS NULL THEN jsonb_build_object('topic', t.topic,"
        "       'published_at', t.published_at, 'unmapped_topic', true)"
        "       WHEN m.new_topic <> t.topic THEN jsonb_build_object('topic', t.topic)"
        "       ELSE '{}'::jsonb END"
        "  || CASE WHEN t.payload IS NULL THEN jsonb_build_object('payload', NULL)"
        "       ELSE '{}'::jsonb END, '{}'::jsonb), "
        "topic = COALESCE(m.new_topic, m.family_topic), "
        "published_at = CASE WHEN m.new_topic IS NULL THEN COALESCE(t.published_at, now()) "
        "               ELSE t.published_at END, "
        "payload = COALESCE(t.payload, '{}'::jsonb) "
        f"FROM (SELECT x.id, {_case('x.norm', TOPIC_MAP)} AS new_topic, "
        f"      COALESCE({family}, '{FALLBACK_TOPIC}') AS family_topic "
        f"      FROM (SELECT id, {normalized} AS norm FROM events) AS x) AS m "
        "WHERE t.id = m.id AND (m.new_topic IS DISTINCT FROM t.topic OR t.payload IS NULL)"
    )
    op.execute("ALTER TABLE events ALTER COLUMN payload SET DEFAULT '{}'::jsonb")
    topics = _enum_values(EVENT_TOPICS)
    op.execute(
        f"ALTER TABLE events ADD CONSTRAINT ck_events_topic CHECK (topic IN ({topics})) NOT VALID"
    )


def _coerce_error_codes(table: str) -> None:
    failed = " OR (t.status = 'failed' AND t.error_code IS NULL)" if table in CONVERSIONS else ""
    op.execute(
        f"UPDATE {table} AS t SET "
        f"legacy_values = COALESCE(t.legacy_values, '{{}}'::jsonb) "
        f"  || jsonb_build_object('error_code', t.error_code), "
        f"error_code = '{UNCLASSIFIED}' "
        f"WHERE (t.error_code IS NOT NULL AND NOT EXISTS "
        f"  (SELECT 1 FROM error_codes AS e WHERE e.code = t.error_code)){failed}"
    )


def _phase_b() -> None:
    with ddl.online_session():
        for table in CORE_TABLES:
            ddl.add_check_validated(table, f"ck_{table}_trace_id_hex", TRACE_CHECK)
        for table in FAILURE_TABLES:
            ddl.add_fk_validated(
                table,
                f"fk_{table}_error_code_error_codes",
                "FOREIGN KEY (error_code) REFERENCES error_codes (code)",
            )
        for table in CONVERSIONS:
            ddl.add_check_validated(table, f"ck_{table}_failed_has_code", FAILED_CHECK)
        ddl.add_check_validated(
            "events", "ck_events_topic", f"topic IN ({_enum_values(EVENT_TOPICS)})"
        )
        ddl.set_not_null_online("events", "payload")
        for name, table, columns, unique, where in INDEXES:
            ddl.create_index_concurrently(name, table, columns, unique=unique, where=where)


def upgrade() -> None:
    # Phase A is one transaction; its table marks it done when a failed phase B is re-run.
    if not ddl.table_exists("error_codes"):
        _phase_a()
    _phase_b()


# --------------------------------------------------------------------------------------------
# downgrade: back to the legacy shape; values changed by the conversion come back from
# legacy_values (rows written after P0 keep their enum value as text).


def _restore(col: str, current: str) -> str:
    return f"CASE WHEN legacy_values ? '{col}' THEN legacy_values->>'{col}' ELSE {current} END"


def downgrade() -> None:
    ddl.transactional_timeouts()
    for name, _table, _cols, _unique, _where in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
    for table in CONVERSIONS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS ck_{table}_failed_has_code")
    for table in FAILURE_TABLES:
        op.execute(
            f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS fk_{table}_error_code_error_codes"
        )
        if table != "events":
            op.execute(
                f"UPDATE {table} SET error_code = legacy_values->>'error_code' "
                "WHERE legacy_values ? 'error_code'"
            )
    op.execute("ALTER TABLE events DROP CONSTRAINT IF EXISTS ck_events_topic")

    for table, conv in CONVERSIONS.items():
        for col in conv.fills:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} DROP NOT NULL")
            if (table, col) in COLUMN_DEFAULTS:
                op.execute(f"ALTER TABLE {table} ALTER COLUMN {col} DROP DEFAULT")
            op.execute(f"UPDATE {table} SET {col} = NULL WHERE legacy_values ? '{col}'")
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN status DROP DEFAULT, ALTER COLUMN stage DROP DEFAULT"
        )
        op.execute(
            f"ALTER TABLE {table} "
            f"ALTER COLUMN status TYPE text USING ({_restore('status', 'status::text')}), "
            f"ALTER COLUMN stage DROP NOT NULL, "
            f"ALTER COLUMN stage TYPE text USING ({_restore('stage', 'stage::text')})"
        )
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN status "
            f"SET DEFAULT {_quote(conv.legacy_status_default)}"
        )
        op.execute(f"ALTER TABLE {table} RENAME COLUMN error_message TO error")

    op.execute(
        "UPDATE events SET topic = COALESCE(legacy_values->>'topic', topic), "
        "published_at = CASE WHEN legacy_values ? 'published_at' "
        "  THEN (legacy_values->>'published_at')::timestamptz ELSE published_at END "
        "WHERE legacy_values ?| array['topic', 'published_at']"
    )
    op.execute(
        "ALTER TABLE events ALTER COLUMN payload DROP NOT NULL, ALTER COLUMN payload DROP DEFAULT"
    )
    op.execute("UPDATE events SET payload = NULL WHERE legacy_values ? 'payload'")

    for table, added in ADDED_COLUMNS.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS ck_{table}_trace_id_hex")
        columns = ["tenant_id", "project_id", "trace_id", "updated_at"]
        columns += [part.split()[2] for part in added.split(", ") if part.startswith("ADD COLUMN")]
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"DROP COLUMN {c}" for c in columns))

    op.execute("ALTER TABLE novels ADD CONSTRAINT uq_novels_slug UNIQUE (slug)")
    op.execute("DROP TABLE error_codes")
    for name in ("job_status", "run_status", "request_status", "nf_stage"):
        op.execute(f"DROP TYPE {name}")
