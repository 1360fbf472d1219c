"""Real services for the distributed tests: an S3 endpoint (moto_server) on a free 127.0.0.1
port in a subprocess, a bucket per test, the settings pointed at it."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from nf_cli.local_cluster import start_moto, stop


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory) -> Iterator[str]:
    """moto_server on 127.0.0.1 (its own process group, ended in the finalizer)."""
    pytest.importorskip("moto", reason="the 'distributed' extra is not installed")
    proc, url = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture
def s3_settings(s3_endpoint, tmp_path, monkeypatch) -> Iterator:
    """NF_ARTIFACT_BACKEND=s3 on a fresh bucket; the local artifact root and the S3 cache are
    separate directories so a test can tell what went where."""
    from shared.config import get_settings
    from shared.storage_s3 import client_for

    bucket = f"nf-test-{uuid.uuid4().hex[:12]}"
    env = {
        "NF_ARTIFACT_BACKEND": "s3",
        "NF_S3_ENDPOINT_URL": s3_endpoint,
        "NF_S3_BUCKET": bucket,
        "NF_S3_ACCESS_KEY_ID": "testing",
        "NF_S3_SECRET_ACCESS_KEY": "testing",
        "NF_S3_CACHE_DIR": str(tmp_path / "s3-cache"),
        "NF_ARTIFACT_ROOT": str(tmp_path / "local-artifacts"),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    settings = get_settings()
    client_for(settings).create_bucket(Bucket=bucket)
    yield settings
    get_settings.cache_clear()
    shutil.rmtree(tmp_path / "s3-cache", ignore_errors=True)


def bucket_keys(settings, prefix: str = "") -> list[str]:
    from shared.storage_s3 import client_for

    pages = client_for(settings).get_paginator("list_objects_v2")
    return [
        o["Key"]
        for page in pages.paginate(Bucket=settings.s3_bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    ]
