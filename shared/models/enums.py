"""Python enums for the PostgreSQL enum types and the event-topic list.

Each enum here is a PostgreSQL enum type of the same name (see `PG_ENUMS`), except `EventTopic`,
which is a CHECK constraint over `events.topic` (an outbox topic list grows more often than a type
should be altered). The migrations freeze their own copies of these lists; tests compare both.
"""

from __future__ import annotations

from enum import StrEnum

from shared.stages import Stage


class RequestStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunStatus(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CACHED = "cached"


class MemberRole(StrEnum):
    OWNER = "owner"
    EDITOR = "editor"
    VIEWER = "viewer"


class EmbeddingStatus(StrEnum):
    CANDIDATE = "candidate"
    ACTIVE = "active"
    RETIRED = "retired"


class ProposalStatus(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"


class ExperimentStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    DECIDED = "decided"
    STOPPED = "stopped"


class EventTopic(StrEnum):
    JOB_CLAIMED = "job.claimed"
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    RUN_STARTED = "run.started"
    RUN_STAGE_CHANGED = "run.stage_changed"
    RUN_RETRIED = "run.retried"
    RUN_FINISHED = "run.finished"
    REQUEST_CREATED = "request.created"
    REQUEST_CLAIMED = "request.claimed"
    PROPOSAL_TRANSITIONED = "proposal.transitioned"
    RAG_SUGGESTION = "rag.suggestion"
    GATE_DEGRADED = "gate.degraded"


# PostgreSQL enum type name -> Python enum.
PG_ENUMS: dict[str, type[StrEnum]] = {
    "nf_stage": Stage,
    "request_status": RequestStatus,
    "run_status": RunStatus,
    "job_status": JobStatus,
    "member_role": MemberRole,
    "embedding_status": EmbeddingStatus,
    "proposal_status": ProposalStatus,
    "experiment_status": ExperimentStatus,
}

__all__ = [
    "PG_ENUMS",
    "EmbeddingStatus",
    "EventTopic",
    "ExperimentStatus",
    "JobStatus",
    "MemberRole",
    "ProposalStatus",
    "RequestStatus",
    "RunStatus",
    "Stage",
]
