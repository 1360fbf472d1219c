"""The artifact store on an S3-compatible object store (AWS S3, MinIO, moto): the same
content-addressed keys as the local store, `<prefix>/<sha[:2]>/<sha>.<ext>`, in one bucket.

Keys are only ever built from a digest and an extension, and a path read back must have exactly
that shape, so no key outside the prefix can be named (NF-STORAGE-001). ffmpeg and PIL need
files: `local_path` downloads a blob once into a cache directory (checked against its digest,
renamed into place atomically); `iter_bytes` streams an object for downloads without holding it
in memory. Needs boto3 (`pip install -e '.[distributed]'`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.blobs import EXT, StoredBlob, StoreSpec, sha256_file
from shared.errors import NFError

if TYPE_CHECKING:
    from shared.config import Settings

# the only relative paths a content-addressed store ever hands out
_REL = re.compile(r"^([0-9a-f]{2})/(\1[0-9a-f]{62})\.([a-z0-9]{1,8})$")
_MISSING = {"404", "NoSuchKey", "NotFound"}


@lru_cache(maxsize=8)
def s3_client(endpoint_url: str, region: str, access_key: str, secret_key: str) -> Any:
    """One boto3 client per endpoint and identity in a process (clients are thread-safe).
    Path-style addressing: MinIO and moto on 127.0.0.1 have no per-bucket host names."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # the optional extra is missing
        raise NFError(
            "NF-STORAGE-004",
            "NF_ARTIFACT_BACKEND=s3 needs boto3: pip install -e '.[distributed]'",
        ) from exc
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or None,
        aws_access_key_id=access_key or None,
        aws_secret_access_key=secret_key or None,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 5, "mode": "standard"},
        ),
    )


def client_for(settings: Settings) -> Any:
    return s3_client(
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        settings.s3_secret_access_key.get_secret_value(),
    )


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


class S3ArtifactStore:
    def __init__(self, client: Any, bucket: str, prefix: str, cache_dir: Path, spec: StoreSpec):
        if not bucket:
            raise NFError("NF-STORAGE-004", "NF_S3_BUCKET is empty (NF_ARTIFACT_BACKEND=s3)")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.cache_dir = Path(cache_dir).resolve()
        self._spec = spec

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ArtifactStore:
        spec = StoreSpec(
            "s3",
            bucket=settings.s3_bucket,
            prefix=settings.s3_prefix,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
        return cls.from_spec(spec, settings)

    @classmethod
    def from_spec(cls, spec: StoreSpec, settings: Settings) -> S3ArtifactStore:
        client = s3_client(
            spec.endpoint_url,
            spec.region,
            settings.s3_access_key_id,
            settings.s3_secret_access_key.get_secret_value(),
        )
        return cls(client, spec.bucket, spec.prefix, settings.s3_cache_path, spec)

    # the ArtifactStore protocol --------------------------------------------------------------
    @property
    def spec(self) -> StoreSpec:
        return self._spec

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def key(self, rel_path: str) -> str:
        """The object key of a stored blob's relative path; refuses any other shape."""
        if not isinstance(rel_path, str) or not _REL.match(rel_path):
            raise NFError("NF-STORAGE-001", f"invalid artifact path {rel_path!r}")
        return f"{self.prefix}/{rel_path}" if self.prefix else rel_path

    def uri(self, rel_path: str) -> str:
        return f"s3://{self.bucket}/{self.key(rel_path)}"

    def put_bytes(self, data: bytes, ext: str) -> StoredBlob:
        sha = hashlib.sha256(data).hexdigest()
        rel = self._rel(sha, ext)
        if not self._exists(rel):
            self._write_rel(
                rel, lambda key: self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
            )
        return StoredBlob(rel, sha, len(data))

    def put_file(self, source: Path, ext: str | None = None) -> StoredBlob:
        sha = sha256_file(source)
        rel = self._rel(sha, ext or source.suffix.lstrip(".").lower())
        if not self._exists(rel):
            # upload_file switches to multipart uploads for large files (chapter videos)
            self._write_rel(rel, lambda key: self.client.upload_file(str(source), self.bucket, key))
        return StoredBlob(rel, sha, source.stat().st_size)

    def open_bytes(self, rel_path: str) -> bytes:
        return b"".join(self.iter_bytes(rel_path))

    def size_of(self, rel_path: str) -> int:
        key = self.key(rel_path)
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except Exception as exc:  # noqa: BLE001 - botocore's errors, classified below
            raise self._read_error(rel_path, exc) from exc

    def iter_bytes(self, rel_path: str, chunk_size: int = 1 << 16) -> Iterator[bytes]:
        key = self.key(rel_path)
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except Exception as exc:  # noqa: BLE001
            raise self._read_error(rel_path, exc) from exc
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def local_path(self, rel_path: str) -> Path:
        key = self.key(rel_path)
        target = self.cache_dir / rel_path
        if target.is_file():  # named by its digest, renamed into place only once verified
            return target
        sha = _REL.match(rel_path).group(2)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".dl-")
            os.close(fd)
        except OSError as exc:
            raise NFError("NF-STORAGE-003", f"cannot write the S3 cache: {exc}") from exc
        try:
            try:
                self.client.download_file(self.bucket, key, tmp)
            except Exception as exc:  # noqa: BLE001
                raise self._read_error(rel_path, exc) from exc
            if sha256_file(Path(tmp)) != sha:
                raise NFError("NF-STORAGE-005", f"downloaded bytes do not match {rel_path}")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return target

    # helpers ----------------------------------------------------------------------------------
    def _rel(self, sha: str, ext: str) -> str:
        if not EXT.match(ext):
            raise NFError("NF-STORAGE-001", f"invalid artifact extension {ext!r}")
        return f"{sha[:2]}/{sha}.{ext}"

    def _exists(self, rel: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(rel))
            return True
        except Exception as exc:  # noqa: BLE001
            if _code(exc) in _MISSING:
                return False
            raise NFError("NF-STORAGE-005", f"cannot reach the artifact bucket: {exc}") from exc

    def _write_rel(self, rel: str, put) -> None:
        try:
            put(self.key(rel))
        except Exception as exc:  # noqa: BLE001
            raise NFError("NF-STORAGE-003", f"cannot write artifact {rel}: {exc}") from exc

    def _read_error(self, rel_path: str, exc: Exception) -> NFError:
        if _code(exc) in _MISSING:
            return NFError("NF-STORAGE-002", f"artifact not found: {rel_path}")
        if isinstance(exc, NFError):
            return exc
        return NFError("NF-STORAGE-005", f"cannot read artifact {rel_path}: {exc}")
