"""The S3 artifact store against a real S3 endpoint (moto_server on 127.0.0.1): content addressing,
traversal refusals before any request, missing objects, the verified download cache, streaming,
and the factory's choice and refusals."""

from __future__ import annotations

import pickle

import pytest

from shared.errors import NFError
from shared.storage import LocalArtifactStore, artifact_store, open_store
from tests.distributed.conftest import bucket_keys

pytestmark = pytest.mark.slow


def test_same_bytes_stored_once_under_the_content_address(s3_settings, tmp_path):
    from shared.storage_s3 import S3ArtifactStore

    store = artifact_store(s3_settings)
    assert isinstance(store, S3ArtifactStore)
    a = store.put_bytes(b"chapter one", "txt")
    src = tmp_path / "same.TXT"
    src.write_bytes(b"chapter one")
    b = store.put_file(src, "txt")
    assert a == b and a.path == f"{a.sha256[:2]}/{a.sha256}.txt" and a.size_bytes == 11
    assert bucket_keys(s3_settings) == [f"{s3_settings.s3_prefix}/{a.path}"]
    assert store.open_bytes(a.path) == b"chapter one"
    assert store.size_of(a.path) == 11
    assert store.uri(a.path) == f"s3://{s3_settings.s3_bucket}/{s3_settings.s3_prefix}/{a.path}"
    assert store.location == f"s3://{s3_settings.s3_bucket}/{s3_settings.s3_prefix}"


@pytest.mark.parametrize(
    "rel",
    [
        "../etc/passwd",
        "/etc/passwd",
        "ab/../../x",
        "",
        "a\x00b",
        "zz/" + "ab" * 32 + ".png",  # shard does not match the digest
        "AB/" + "AB" * 32 + ".png",  # upper case is not what the store writes
        "ab/" + "ab" * 32 + ".png/../../x",
        "ab/" + "ab" * 32,  # no extension
    ],
)
def test_paths_that_are_not_content_addresses_are_refused(s3_settings, rel):
    store = artifact_store(s3_settings)
    for read in (store.open_bytes, store.size_of, store.local_path, store.uri):
        with pytest.raises(NFError) as err:
            read(rel)
        assert err.value.code == "NF-STORAGE-001"


def test_bad_extension_refused_before_anything_is_written(s3_settings, tmp_path):
    store = artifact_store(s3_settings)
    for ext in ("../png", "PNG", "", "toolongext"):
        with pytest.raises(NFError) as err:
            store.put_bytes(b"x", ext)
        assert err.value.code == "NF-STORAGE-001"
    assert bucket_keys(s3_settings) == []


def test_missing_object_is_not_found(s3_settings):
    store = artifact_store(s3_settings)
    rel = "ab/" + "ab" * 32 + ".png"
    for read in (store.open_bytes, store.size_of, store.local_path):
        with pytest.raises(NFError) as err:
            read(rel)
        assert err.value.code == "NF-STORAGE-002"
    with pytest.raises(NFError) as err:
        list(store.iter_bytes(rel))
    assert err.value.code == "NF-STORAGE-002"


def test_local_path_downloads_once_and_refuses_altered_bytes(s3_settings):
    from shared.storage_s3 import client_for

    store = artifact_store(s3_settings)
    blob = store.put_bytes(b"\x89PNG panel", "png")
    path = store.local_path(blob.path)
    assert path.read_bytes() == b"\x89PNG panel"
    assert path.is_relative_to(s3_settings.s3_cache_path.resolve())
    key = f"{s3_settings.s3_prefix}/{blob.path}"
    client_for(s3_settings).put_object(Bucket=s3_settings.s3_bucket, Key=key, Body=b"altered")
    assert store.local_path(blob.path).read_bytes() == b"\x89PNG panel"  # cached, verified copy
    path.unlink()
    with pytest.raises(NFError) as err:
        store.local_path(blob.path)
    assert err.value.code == "NF-STORAGE-005"
    assert not path.exists()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".dl-")]


def test_iter_bytes_streams_in_chunks(s3_settings):
    store = artifact_store(s3_settings)
    data = bytes(range(256)) * 4096  # 1 MiB
    blob = store.put_bytes(data, "bin")
    chunks = list(store.iter_bytes(blob.path, chunk_size=64 * 1024))
    assert len(chunks) >= 16 and max(map(len, chunks)) <= 64 * 1024
    assert b"".join(chunks) == data


def test_spec_rebuilds_the_store_in_another_process_without_secrets(s3_settings):
    store = artifact_store(s3_settings)
    blob = store.put_bytes(b"payload", "json")
    spec = pickle.loads(pickle.dumps(store.spec))
    assert "testing" not in repr(spec)  # credentials come from each process's own settings
    assert open_store(spec, s3_settings).open_bytes(blob.path) == b"payload"


def test_factory_defaults_to_local_and_refuses_an_incomplete_s3(tmp_path, monkeypatch):
    from shared.config import Settings

    local = artifact_store(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalArtifactStore)
    assert local.root == (tmp_path / "artifacts").resolve()
    assert open_store(local.spec).root == local.root
    with pytest.raises(NFError) as err:
        artifact_store(Settings(data_dir=tmp_path, artifact_backend="s3", s3_bucket=""))
    assert err.value.code == "NF-STORAGE-004"
    with pytest.raises(ValueError):
        Settings(artifact_backend="ftp")
