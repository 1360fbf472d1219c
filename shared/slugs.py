"""Names that become identifiers: tenant and project slugs, and novel partition keys.

A partition key is `<tenant>.<project>.<novel>`; Dagster shows it in URLs and run tags, so only
lowercase ASCII letters, digits, `_` and `-` are allowed in each part (no `, | [ ]`, no JSON, no
path or SQL metacharacters).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from shared.errors import NFError

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def validate_slug(value: str, what: str = "name") -> str:
    if not isinstance(value, str) or not SLUG_RE.match(value):
        raise NFError(
            "NF-INPUT-006",
            f"{what} {value!r} must be 1-63 chars of a-z, 0-9, '_' or '-', starting with a"
            " letter or digit",
        )
    return value


def slugify(title: str, fallback: str = "novel") -> str:
    """A slug from a free title: ASCII-folded, lowercase, '-' separated (may be the fallback)."""
    ascii_text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:63].strip("-")
    return slug or fallback


@dataclass(frozen=True)
class PartitionKey:
    tenant_id: str
    project_id: str
    novel_slug: str

    def __str__(self) -> str:
        return f"{self.tenant_id}.{self.project_id}.{self.novel_slug}"

    @classmethod
    def parse(cls, key: str) -> PartitionKey:
        parts = key.split(".") if isinstance(key, str) else []
        if len(parts) != 3 or not all(SLUG_RE.match(p) for p in parts):
            raise NFError(
                "NF-INPUT-005",
                f"partition key {key!r} must be <tenant>.<project>.<novel>, each part a slug",
            )
        return cls(*parts)
