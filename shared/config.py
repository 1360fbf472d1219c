"""Settings from the environment (prefix NF_), one object for the whole process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NF_", env_file=".env", extra="ignore")

    # Empty means: start (or reuse) the embedded PostgreSQL under data_dir (shared.embedded_pg).
    database_url: str = ""
    data_dir: Path = REPO_ROOT / "data"
    artifact_root: Path | None = None
    default_tenant: str = "default"
    default_project: str = "default"
    log_level: str = "INFO"
    upload_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    token_ttl_seconds: int = 3600
    # where users reach the gateway: links in the Dagster UI's metadata point here
    gateway_url: str = "http://127.0.0.1:8080"
    # Provider health (nf_services/providers/health.py). A circuit breaker per provider opens
    # after this many consecutive unavailability failures (connection errors, 5xx, timeouts)...
    provider_breaker_failures: int = Field(default=5, ge=1)
    # ...for this cool-down, doubled after each failed half-open trial up to the maximum.
    provider_breaker_cooldown_seconds: float = Field(default=30.0, ge=0)
    provider_breaker_max_cooldown_seconds: float = Field(default=300.0, ge=0)
    # Per run (and process): seconds that failed provider calls and retry waits may cost before
    # the remaining items go straight to their offline fallback. 0 turns the bound off.
    provider_run_deadline_seconds: float = Field(default=600.0, ge=0)
    # Gateway limits (nf_gateway/limits.py, docs/runbooks/gateway-hardening.md).
    # Bodies of JSON routes: refused (NF-INPUT-016, 413) once this many bytes have been read.
    json_body_max_bytes: int = Field(default=1024 * 1024, ge=1024)
    # JSON nesting depth and item count of free JSON fields (params, config): NF-INPUT-014.
    json_max_depth: int = Field(default=32, ge=2)
    json_max_items: int = Field(default=2000, ge=1)
    # Login throttling (NF-AUTH-005, 429 + Retry-After): failures per account and per client
    # address within the window; scrypt runs in at most login_concurrency threads at once.
    login_max_failures_per_account: int = Field(default=10, ge=1)
    login_max_failures_per_client: int = Field(default=50, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_concurrency: int = Field(default=1, ge=1)
    login_queue_max: int = Field(default=16, ge=0)
    # API tokens: active tokens per user (NF-AUTH-006) and the longest lifetime in days.
    api_token_max_per_user: int = Field(default=50, ge=1)
    api_token_max_days: int = Field(default=366, ge=1)
    # Idempotency keys of requests and feedback are kept this long (then a key may be reused).
    idempotency_retention_hours: int = Field(default=24 * 7, ge=1)
    # Submissions per tenant per minute (NF-TENANCY-004); 0 turns the quota off.
    tenant_submits_per_minute: int = Field(default=1200, ge=0)
    # CORS: allowed origins (JSON list, e.g. '["https://studio.example"]'); empty = no CORS.
    cors_origins: list[str] = Field(default_factory=list)

    @property
    def artifacts_dir(self) -> Path:
        return self.artifact_root or self.data_dir / "artifacts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
