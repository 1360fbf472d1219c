"""A small real novel through the whole asset graph, once per test module that asks for it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import dagster as dg
import pytest

from nf_cli.runs import NovelRun, run_novel
from tests.conftest import CORPUS


def small_novel(chapters: int = 2) -> bytes:
    from nf_cli.demo import first_chapters

    return first_chapters((CORPUS / "zh_a_q_zhengzhuan.txt").read_bytes(), chapters)


@pytest.fixture(scope="module")
def artifact_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("artifacts")


@pytest.fixture(scope="module")
def small_run(migrated_db_url, artifact_root) -> NovelRun:
    from shared.db import get_engine

    os.environ.setdefault("NF_MEDIA_WORKERS", "2")
    instance = dg.DagsterInstance.ephemeral()
    tenant = f"t{uuid.uuid4().hex[:8]}"
    return run_novel(
        get_engine(migrated_db_url),
        artifact_root,
        tenant=tenant,
        project="books",
        slug="aq",
        data=small_novel(2),
        instance=instance,
    )
