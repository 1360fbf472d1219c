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
    # Provider health (nf_resources/providers/health.py). A circuit breaker per provider opens
    # after this many consecutive unavailability failures (connection errors, 5xx, timeouts)...
    provider_breaker_failures: int = Field(default=5, ge=1)
    # ...for this cool-down, doubled after each failed half-open trial up to the maximum.
    provider_breaker_cooldown_seconds: float = Field(default=30.0, ge=0)
    provider_breaker_max_cooldown_seconds: float = Field(default=300.0, ge=0)
    # Per run (and process): seconds that failed provider calls and retry waits may cost before
    # the remaining items go straight to their offline fallback. 0 turns the bound off.
    provider_run_deadline_seconds: float = Field(default=600.0, ge=0)

    @property
    def artifacts_dir(self) -> Path:
        return self.artifact_root or self.data_dir / "artifacts"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
