"""Database and artifact-store resources."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from sqlalchemy import Engine

from shared.config import get_settings
from shared.db import get_engine, normalize_url
from shared.storage import LocalArtifactStore


class DatabaseResource(dg.ConfigurableResource):
    """nf's own PostgreSQL (not Dagster's storage). Empty url = NF_DATABASE_URL or embedded."""

    url: str = ""

    def engine(self) -> Engine:
        return get_engine(normalize_url(self.url) if self.url else None)


class ArtifactStoreResource(dg.ConfigurableResource):
    """Content-addressed local artifact store. Empty root = NF_ARTIFACT_ROOT or data/artifacts."""

    root: str = ""

    def store(self) -> LocalArtifactStore:
        return LocalArtifactStore(Path(self.root) if self.root else get_settings().artifacts_dir)
