"""Database and artifact-store resources."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from sqlalchemy import Engine

from shared.config import get_settings
from shared.db import get_engine, normalize_url
from shared.storage import ArtifactStore, LocalArtifactStore, artifact_store


class DatabaseResource(dg.ConfigurableResource):
    """nf's own PostgreSQL (not Dagster's storage). Empty url = NF_DATABASE_URL or embedded."""

    url: str = ""

    def engine(self) -> Engine:
        return get_engine(normalize_url(self.url) if self.url else None)


class ArtifactStoreResource(dg.ConfigurableResource):
    """Content-addressed artifact store. A root = a local store there; empty = the configured
    backend (NF_ARTIFACT_BACKEND: local under NF_ARTIFACT_ROOT or data/artifacts, or s3)."""

    root: str = ""

    def store(self) -> ArtifactStore:
        if self.root:
            return LocalArtifactStore(Path(self.root))
        return artifact_store(get_settings())
