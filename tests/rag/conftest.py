"""A real chapter set indexed once per module: the first 10 chapters of 西游记 in one tenant."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import CORPUS

N_CHAPTERS = 10


@dataclass
class Indexed:
    engine: object
    store: object
    tenant: str
    project: str
    novel_id: uuid.UUID
    chapters: list  # contracts.Chapter
    chunks: list  # contracts.Chunk


def chapters_of(name: str, n: int) -> list:
    from nf_skills import s01_ingest, s02_chapter_split

    ingested = s01_ingest.ingest((CORPUS / name).read_bytes())
    return s02_chapter_split.split_chapters(ingested.text, ingested.language).chapters[:n]


def load_novel(engine, store, tenant: str, project: str, name: str, n: int) -> Indexed:
    """Register a novel and write its SKILL_03 chunks (no embeddings yet)."""
    from nf_services.novels import ensure_tenant_project, register_novel
    from nf_services.rag.store import RagStore
    from nf_skills import s03_chunk

    ensure_tenant_project(engine, tenant, project)
    chapters = chapters_of(name, n)
    body = "\n".join(f"{c.title}\n{c.text}" for c in chapters).encode()
    novel = register_novel(
        engine,
        store,
        tenant_id=tenant,
        project_id=project,
        slug=Path(name).stem.replace("_", "-"),
        data=body,
        title=name,
        trace_id=uuid.uuid4().hex,
    )
    chunks = [c for ch in chapters for c in s03_chunk.chunk_chapter(ch)]
    RagStore(engine).write_chunks(
        tenant_id=tenant,
        project_id=project,
        trace_id=uuid.uuid4().hex,
        novel_id=novel.id,
        chunks=chunks,
    )
    return Indexed(engine, store, tenant, project, novel.id, chapters, chunks)


@pytest.fixture(scope="module")
def artifact_store(tmp_path_factory):
    from shared.storage import LocalArtifactStore

    return LocalArtifactStore(tmp_path_factory.mktemp("rag-artifacts"))


@pytest.fixture(scope="module")
def xiyouji(migrated_db_url, artifact_store) -> Indexed:
    from shared.db import get_engine

    engine = get_engine(migrated_db_url)
    return load_novel(
        engine, artifact_store, f"t{uuid.uuid4().hex[:8]}", "books", "zh_xiyouji.txt", N_CHAPTERS
    )
