"""Offline EmbeddingProvider: hashed character n-grams, L2-normalised.

Character n-grams (1..3 by default) need no word segmentation, so Chinese and English work
alike; feature hashing (a keyed BLAKE2 digest picks bucket and sign) keeps the width fixed and the
result identical across processes, unlike Python's salted `hash()`. Sublinear term frequency
(1 + log tf) stops a repeated character from dominating a chunk.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from functools import lru_cache

from nf_services.providers.base import EmbeddingResult, Usage

PROVIDER_NAME = "offline-char-ngram"
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1 << 16)
def _bucket(gram: str, dims: int) -> tuple[int, float]:
    digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8, person=b"nf-ngram").digest()
    value = int.from_bytes(digest, "little")
    # Low bits pick the bucket, the top bit the sign: signed hashing keeps collisions unbiased.
    return value % dims, 1.0 if value >> 63 else -1.0


def normalize_text(text: str) -> str:
    """NFKC (full-width -> half-width), lower case, whitespace collapsed to one space."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip()


def char_ngrams(text: str, n_min: int = 1, n_max: int = 3) -> Counter[str]:
    grams: Counter[str] = Counter()
    for n in range(n_min, n_max + 1):
        for i in range(len(text) - n + 1):
            gram = text[i : i + n]
            if n == 1 and gram == " ":
                continue  # a lone space carries no content
            grams[gram] += 1
    return grams


class HashingNgramEmbedding:
    """Deterministic character n-gram feature-hashing embedding (works without a network)."""

    name = PROVIDER_NAME

    def __init__(self, dimensions: int = 512, n_min: int = 1, n_max: int = 3) -> None:
        if dimensions < 2:
            raise ValueError("dimensions must be >= 2")
        if not 1 <= n_min <= n_max:
            raise ValueError("need 1 <= n_min <= n_max")
        self.dimensions = dimensions
        self.n_min = n_min
        self.n_max = n_max
        # The model name encodes every parameter that changes vectors, so an embedding version
        # recorded with it is reproducible.
        self.model = f"char-ngram-{n_min}-{n_max}-d{dimensions}"

    def vector(self, text: str) -> list[float]:
        """One L2-normalised vector; all zeros for text with no characters."""
        vec = [0.0] * self.dimensions
        for gram, tf in char_ngrams(normalize_text(text), self.n_min, self.n_max).items():
            bucket, sign = _bucket(gram, self.dimensions)
            vec[bucket] += sign * (1.0 + math.log(tf))
        norm = math.sqrt(sum(x * x for x in vec))
        if norm == 0.0:
            return vec
        return [x / norm for x in vec]

    def embed(self, texts: list[str]) -> EmbeddingResult:
        vectors = [self.vector(t) for t in texts]
        return EmbeddingResult(
            vectors=vectors,
            dimensions=self.dimensions,
            usage=Usage(self.name, self.model, float(len(texts)), "texts"),
        )
