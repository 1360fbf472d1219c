"""Settings from the environment (prefix NF_), one object for the whole process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NF_", env_file=".env", extra="ignore")

    # Empty means: start (or reuse) the embedded PostgreSQL under data_dir (shared.embedded_pg).
    database_url: str = ""
    data_dir: Path = REPO_ROOT / "data"  # embedded database, Dagster home, artifacts, caches
    artifact_root: Path | None = None  # local artifact store; empty = data_dir/artifacts
    default_tenant: str = "default"  # tenant of CLI commands run without --tenant
    default_project: str = "default"  # project of CLI commands run without --project
    log_level: str = "INFO"  # level of nf's JSON logs
    upload_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)  # largest novel file
    token_ttl_seconds: int = 3600  # lifetime of a login's access token
    # where users reach the gateway: links in the Dagster UI's metadata point here
    gateway_url: str = "http://127.0.0.1:8080"
    # Provider health (nf_services/providers/health.py). A circuit breaker per provider opens
    # after this many consecutive unavailability failures (connection errors, 5xx, timeouts)...
    provider_breaker_failures: int = Field(default=5, ge=1)
    # ...for this cool-down, doubled after each failed half-open trial up to the maximum.
    provider_breaker_cooldown_seconds: float = Field(default=30.0, ge=0)
    provider_breaker_max_cooldown_seconds: float = Field(default=300.0, ge=0)  # the maximum
    # Per run (and process): seconds that failed provider calls and retry waits may cost before
    # the remaining items go straight to their offline fallback. 0 turns the bound off.
    provider_run_deadline_seconds: float = Field(default=600.0, ge=0)
    # Gateway limits (nf_gateway/limits.py, docs/runbooks/gateway-hardening.md).
    # Bodies of JSON routes: refused (NF-INPUT-016, 413) once this many bytes have been read.
    json_body_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    # JSON nesting depth and item count of free JSON fields (params, config): NF-INPUT-014.
    json_max_depth: int = Field(default=32, ge=2)
    json_max_items: int = Field(default=2000, ge=1)  # items of one such field
    # Login throttling (NF-AUTH-005, 429 + Retry-After): failures per account and per client
    # address within the window; scrypt runs in at most login_concurrency threads at once.
    login_max_failures_per_account: int = Field(default=10, ge=1)
    login_max_failures_per_client: int = Field(default=50, ge=1)  # per client address
    login_failure_window_seconds: int = Field(default=900, ge=1)  # the window
    login_concurrency: int = Field(default=1, ge=1)  # scrypt threads
    login_queue_max: int = Field(default=16, ge=0)  # logins waiting for one; more get 429
    # API tokens: active tokens per user (NF-AUTH-006) and the longest lifetime in days.
    api_token_max_per_user: int = Field(default=50, ge=1)
    api_token_max_days: int = Field(default=366, ge=1)  # longest token lifetime
    # Idempotency keys of requests and feedback are kept this long (then a key may be reused).
    idempotency_retention_hours: int = Field(default=24 * 7, ge=1)
    # Submissions per tenant per minute (NF-TENANCY-004); 0 turns the quota off.
    tenant_submits_per_minute: int = Field(default=1200, ge=0)
    # The most execution requests one intake sensor tick claims and turns into runs
    # (nf_assets/intake.py): a tick takes min(queue depth, this), so 1,000 queued go in one tick.
    intake_max_runs_per_tick: int = Field(default=1000, ge=1)
    # CORS: allowed origins (JSON list, e.g. '["https://studio.example"]'); empty = no CORS.
    cors_origins: list[str] = Field(default_factory=list)
    # Artifacts and step outputs (docs/runbooks/distributed-execution.md). `local`: files under
    # artifact_root, step outputs pickled under DAGSTER_HOME/storage. `s3`: both in one bucket of
    # an S3-compatible endpoint (AWS, MinIO, moto), so steps may run on other machines.
    artifact_backend: Literal["local", "s3"] = "local"
    s3_endpoint_url: str = ""  # empty = AWS's own endpoint for s3_region
    s3_bucket: str = ""
    s3_prefix: str = "artifacts"  # artifacts at <prefix>/<sha[:2]>/<sha>.<ext>
    s3_step_prefix: str = "steps"  # Dagster step outputs (pickles) under this prefix
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""  # empty = boto3's default chain (environment, profile, role)
    s3_secret_access_key: SecretStr = SecretStr("")
    # local copies of S3 blobs that ffmpeg / PIL read as files; default data_dir/cache/s3
    s3_cache_dir: Path | None = None
    # Distributed execution (job novel_pipeline_celery): Celery broker and result backend, the
    # queue Dagster steps go to, and where chapter media work runs: the op's process pool
    # (`process`) or Celery tasks on media_queue, spread over every media worker (`celery`).
    celery_broker_url: str = "pyamqp://guest:guest@127.0.0.1:5672//"
    celery_backend_url: str = "rpc://"
    celery_queue: str = "dagster"
    media_executor: Literal["process", "celery"] = "process"
    media_queue: str = "nf-media"

    # Processes of the media pool per run process (panels, narration, composition); 0 = cores.
    media_workers: int = Field(default=0, ge=0)
    # Who runs `nf proposal|experiment ...` when --actor is not given (an email or user id).
    actor: str = ""
    # Signing key of access tokens; every gateway process must share it. Empty: a random key
    # kept (0600) under data_dir, shared by the gateways of this machine.
    gateway_secret: SecretStr = SecretStr("")
    # RAG: seconds a process trusts its cached embedding matrix before probing for changes.
    rag_matrix_ttl_seconds: float = Field(default=5.0, ge=0)
    # A CJK font file (.ttf/.ttc/.otf) to draw panels with, before the known system fonts.
    cjk_font: Path | None = None

    @property
    def artifacts_dir(self) -> Path:
        return self.artifact_root or self.data_dir / "artifacts"

    @property
    def s3_cache_path(self) -> Path:
        return self.s3_cache_dir or self.data_dir / "cache" / "s3"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
