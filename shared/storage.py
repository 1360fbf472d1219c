"""Local content-addressed artifact storage.

Blobs live at `<root>/<sha[:2]>/<sha>.<ext>`; writing the same bytes twice stores them once, so a
re-run cannot duplicate files. Reads take a path relative to the root and refuse anything that
escapes it (NF-STORAGE-001).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.errors import NFError

_EXT = re.compile(r"^[a-z0-9]{1,8}$")


@dataclass(frozen=True)
class StoredBlob:
    path: str  # relative to the store root, POSIX separators
    sha256: str
    size_bytes: int


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class LocalArtifactStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _target(self, sha: str, ext: str) -> tuple[str, Path]:
        if not _EXT.match(ext):
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
        target = self.resolve(rel_path)
        if not target.is_file():
            raise NFError("NF-STORAGE-002", f"artifact not found: {rel_path}")
        return target.read_bytes()

    def _atomic_write(self, target: Path, write) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, target)  # atomic: readers never see a half-written blob
        except OSError as exc:
            raise NFError("NF-STORAGE-003", f"cannot write artifact: {exc}") from exc
