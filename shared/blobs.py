"""The artifact stores' shared vocabulary: the blob record, the picklable store spec and the
interface both backends implement (shared/storage.py local, shared/storage_s3.py S3)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

EXT = re.compile(r"^[a-z0-9]{1,8}$")


@dataclass(frozen=True)
class StoredBlob:
    path: str  # relative to the store root, POSIX separators
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class StoreSpec:
    """Where a store keeps its blobs, without credentials (each process takes those from its own
    settings): what media jobs carry to pool and Celery workers."""

    backend: str  # "local" | "s3"
    root: str = ""  # local: the directory
    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    region: str = ""


@runtime_checkable
class ArtifactStore(Protocol):
    """What every caller may do with stored blobs, whatever the backend."""

    @property
    def spec(self) -> StoreSpec: ...

    @property
    def location(self) -> str:
        """The store's root for people: a directory or s3://bucket/prefix."""
        ...

    def put_bytes(self, data: bytes, ext: str) -> StoredBlob: ...

    def put_file(self, source: Path, ext: str | None = None) -> StoredBlob: ...

    def open_bytes(self, rel_path: str) -> bytes: ...

    def local_path(self, rel_path: str) -> Path:
        """A local file with the blob's bytes (for ffmpeg, PIL): the blob itself, or a cached
        download. Raises NF-STORAGE-002 when the blob is missing."""
        ...

    def size_of(self, rel_path: str) -> int: ...

    def iter_bytes(self, rel_path: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        """The blob's bytes in chunks, never the whole object in memory (downloads)."""
        ...

    def uri(self, rel_path: str) -> str:
        """Where the blob is, for metadata: a file path or s3://bucket/key."""
        ...


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
