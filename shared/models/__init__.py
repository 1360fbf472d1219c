"""The nf database schema (SQLAlchemy 2). Importing this package registers every table, so
`Base.metadata` is the complete schema the Alembic head must equal."""

from shared.models.auth import (
    ApiToken,
    Membership,
    Project,
    RevokedAccessToken,
    Tenant,
    User,
)
from shared.models.base import (
    Base,
    FailureMixin,
    IdempotentMixin,
    StandardFields,
    new_trace_id,
)
from shared.models.composer import ComposerBatch, ExportRecord
from shared.models.core import (
    Artifact,
    ChapterRow,
    ErrorCodeRow,
    Event,
    ExecutionRequest,
    Feedback,
    Job,
    Novel,
    RenderRun,
    UsageLedger,
)
from shared.models.enums import (
    PG_ENUMS,
    EmbeddingStatus,
    EventTopic,
    ExperimentStatus,
    JobStatus,
    MemberRole,
    ProposalStatus,
    RequestStatus,
    RunStatus,
    Stage,
)
from shared.models.gates import GateResultRow
from shared.models.governance import (
    Experiment,
    Promotion,
    PromptTemplate,
    Proposal,
    ProposalReview,
    SkillVersion,
    VariantAssignment,
)
from shared.models.observer import ObserverCostDaily, ObserverErrorDaily
from shared.models.rag import (
    EmbeddingVersion,
    RagChunk,
    RagEmbedding,
    RagEvalResult,
    RagEvalSet,
    RagRollbackSuggestion,
)

# Tables that carry tenant_id/project_id/trace_id (the standard fields).
TENANT_TABLES: tuple[str, ...] = tuple(
    sorted(t.name for t in Base.metadata.sorted_tables if "trace_id" in t.c)
)
# Write-path tables: UNIQUE (tenant_id, idempotency_key).
IDEMPOTENT_TABLES: tuple[str, ...] = tuple(
    sorted(t.name for t in Base.metadata.sorted_tables if "idempotency_key" in t.c)
)

__all__ = [
    "IDEMPOTENT_TABLES",
    "PG_ENUMS",
    "RevokedAccessToken",
    "TENANT_TABLES",
    "ApiToken",
    "Artifact",
    "Base",
    "ChapterRow",
    "ComposerBatch",
    "EmbeddingStatus",
    "EmbeddingVersion",
    "ErrorCodeRow",
    "Event",
    "EventTopic",
    "ExecutionRequest",
    "Experiment",
    "ExperimentStatus",
    "ExportRecord",
    "FailureMixin",
    "Feedback",
    "GateResultRow",
    "IdempotentMixin",
    "Job",
    "JobStatus",
    "MemberRole",
    "Membership",
    "Novel",
    "ObserverCostDaily",
    "ObserverErrorDaily",
    "Project",
    "PromptTemplate",
    "Promotion",
    "Proposal",
    "ProposalReview",
    "ProposalStatus",
    "RagChunk",
    "RagEmbedding",
    "RagEvalResult",
    "RagEvalSet",
    "RagRollbackSuggestion",
    "RenderRun",
    "RequestStatus",
    "RunStatus",
    "SkillVersion",
    "Stage",
    "StandardFields",
    "Tenant",
    "UsageLedger",
    "User",
    "VariantAssignment",
    "new_trace_id",
]
