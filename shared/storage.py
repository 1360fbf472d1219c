"""Content-addressed artifact storage: one interface (`ArtifactStore`), two backends.

Blobs live at `<sha[:2]>/<sha>.<ext>` under the store's root (a local directory, or a bucket
prefix: shared/storage_s3.py); writing the same bytes twice stores them once, so a re-run cannot
duplicate files. Reads take a path relative to the root and refuse anything that escapes it
(NF-STORAGE-001). `artifact_store(settings)` picks the backend from NF_ARTIFACT_BACKEND; a
`StoreSpec` (picklable, no secrets) rebuilds the same store in another process or machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from shared.blobs import EXT, ArtifactStore, StoredBlob, StoreSpec, sha256_file
from shared.errors import NFError

if TYPE_CHECKING:
    from shared.config import Settings

__all__ = [
    "ArtifactStore",
    "LocalArtifactStore",
    "StoreSpec",
    "StoredBlob",
    "artifact_store",
    "open_store",
    "sha256_file",
]


class LocalArtifactStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _target(self, sha: str, ext: str) -> tuple[str, Path]:
        if not EXT.match(ext):
            raise NFError("NF-STORAGE-001", f"invalid artifact extension {ext!r}")
        rel = f"{sha[:2]}/{sha}.{ext}"
        return rel, self.root / rel

    def put_bytes(self, data: bytes, ext: str) -> StoredBlob:
        sha = hashlib.sha256(data).hexdigest()
        rel, target = self._target(sha, ext)
        if not target.exists():
            self._atomic_write(target, lambda f: f.write(data))
        return StoredBlob(rel, sha, len(data))

    def put_file(self, source: Path, ext: str | None = None) -> StoredBlob:
        """Copy a file into the store (e.g. a PNG a provider wrote to a scratch dir)."""
        sha = sha256_file(source)
        rel, target = self._target(sha, ext or source.suffix.lstrip(".").lower())
        if not target.exists():
            with source.open("rb") as src:
                self._atomic_write(target, lambda f: shutil.copyfileobj(src, f))
        return StoredBlob(rel, sha, source.stat().st_size)

    def resolve(self, rel_path: str) -> Path:
        """Absolute path of a stored blob; refuses traversal outside the root."""
        if not rel_path or "\x00" in rel_path or os.path.isabs(rel_path):
            raise NFError("NF-STORAGE-001", f"invalid artifact path {rel_path!r}")
        target = (self.root / rel_path).resolve()
        if not target.is_relative_to(self.root):
            raise NFError("NF-STORAGE-001", f"artifact path escapes the store: {rel_path!r}")
        return target

    def open_bytes(self, rel_path: str) -> bytes:
        return self.local_path(rel_path).read_bytes()

    @property
    def spec(self) -> StoreSpec:
        return StoreSpec("local", root=str(self.root))

    @property
    def location(self) -> str:
        return str(self.root)

    def local_path(self, rel_path: str) -> Path:
        target = self.resolve(rel_path)
        if not target.is_file():
            raise NFError("NF-STORAGE-002", f"artifact not found: {rel_path}")
        return target

    def size_of(self, rel_path: str) -> int:
        return self.local_path(rel_path).stat().st_size

    def iter_bytes(self, rel_path: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        with self.local_path(rel_path).open("rb") as f:
            yield from iter(lambda: f.read(chunk_size), b"")

    def uri(self, rel_path: str) -> str:
        return str(self.resolve(rel_path))

    def _atomic_write(self, target: Path, write) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, target)  # atomic: readers never see a half-written blob
        except OSError as exc:
            raise NFError("NF-STORAGE-003", f"cannot write artifact: {exc}") from exc


def artifact_store(
    settings: Settings | None = None, *, root: Path | str | None = None
) -> ArtifactStore:
    """The configured store: NF_ARTIFACT_BACKEND=local (under `root`, default the settings'
    artifact root) or s3 (NF_S3_*). An incomplete S3 configuration is refused (NF-STORAGE-004)."""
    from shared.config import get_settings

    settings = settings or get_settings()
    if settings.artifact_backend == "s3":
        from shared.storage_s3 import S3ArtifactStore

        return S3ArtifactStore.from_settings(settings)
    return LocalArtifactStore(root or settings.artifacts_dir)


def open_store(spec: StoreSpec, settings: Settings | None = None) -> ArtifactStore:
    """The store a spec names, with this process's credentials and cache directory."""
    if spec.backend == "local":
        return LocalArtifactStore(spec.root)
    if spec.backend == "s3":
        from shared.config import get_settings
        from shared.storage_s3 import S3ArtifactStore

        return S3ArtifactStore.from_spec(spec, settings or get_settings())
    raise NFError("NF-STORAGE-004", f"unknown artifact backend {spec.backend!r}")
