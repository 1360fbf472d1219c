"""Dense offline embeddings fitted on the project's own text: LSA over hashed character n-grams.

TF-IDF over hashed character 1..2-grams (no segmentation, so Chinese and English alike), then a
truncated SVD (randomised, fixed seed, so a refit on the same text gives the same model) maps a
text to `k` latent dimensions. Unlike the hashing model it learns co-occurrence from the corpus:
two passages that share no n-gram can still be close. The fitted model (IDF weights and the
projection) is an `.npz` blob in the content-addressed artifact store; the embedding version's
params record its path and sha256, so a version is reproducible and never silently refitted.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import linalg, sparse

from nf_services.providers.base import EmbeddingResult, Usage
from nf_services.providers.offline_embedding import char_ngrams, normalize_text
from shared.errors import NFError
from shared.storage import ArtifactStore, StoreSpec, open_store

PROVIDER_NAME = "offline-lsa"


@lru_cache(maxsize=1 << 17)
def _feature(gram: str, features: int) -> int:
    digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8, person=b"nf-lsa").digest()
    return int.from_bytes(digest, "little") % features


def term_matrix(texts: list[str], features: int, n_max: int = 2) -> sparse.csr_matrix:
    """Rows of sublinear term frequencies (1 + log tf) over hashed character n-grams."""
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    for text in texts:
        row: dict[int, float] = {}
        for gram, tf in char_ngrams(normalize_text(text), 1, n_max).items():
            f = _feature(gram, features)
            row[f] = row.get(f, 0.0) + tf
        indices.extend(row)
        data.extend(1.0 + math.log(v) for v in row.values())
        indptr.append(len(indices))
    return sparse.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int64), np.asarray(indptr)),
        shape=(len(texts), features),
    )


def _l2_rows(m: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ m


def _orthonormal(x: np.ndarray) -> np.ndarray:
    """Orthonormal columns spanning x (CholeskyQR2: two Gram-Cholesky passes). Plain GEMMs:
    LAPACK's Householder QR is an order of magnitude slower on these tall, thin blocks."""
    x = x.astype(np.float64)
    for _ in range(2):
        g = x.T @ x
        g[np.diag_indices_from(g)] += 1e-10 * max(float(np.trace(g)), 1e-30) / len(g)
        x = linalg.solve_triangular(np.linalg.cholesky(g), x.T, lower=True).T
    return x


def randomized_svd(
    a: sparse.csr_matrix, k: int, *, oversample: int = 10, power_iters: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k singular values and right singular vectors (features x k) of a sparse matrix
    (Halko, Martinsson & Tropp 2011): a randomised range finder with normalised power
    iterations, then the small SVD through the eigen-decomposition of B B^T."""
    rng = np.random.default_rng(seed)
    width = min(k + oversample, min(a.shape))
    q = _orthonormal(a @ rng.standard_normal((a.shape[1], width)))
    for _ in range(power_iters):
        q = _orthonormal(a @ _orthonormal(a.T @ q))
    b = np.asarray(a.T @ q).T  # width x features
    w, u = np.linalg.eigh(b @ b.T)
    order = np.argsort(w)[::-1][:k]
    s = np.sqrt(np.clip(w[order], 0.0, None))
    keep = s > s[0] * 1e-7 if len(s) else s.astype(bool)
    v = (b.T @ u[:, order[keep]]) / s[keep]
    return s[keep], v.astype(np.float32)


@dataclass(frozen=True)
class LsaModel:
    idf: np.ndarray  # (features,)
    components: np.ndarray  # (features, k)
    singular_values: np.ndarray  # (k,)
    n_max: int

    @property
    def dimensions(self) -> int:
        return int(self.components.shape[1])

    def transform(self, texts: list[str]) -> np.ndarray:
        x = _l2_rows(term_matrix(texts, self.idf.shape[0], self.n_max).multiply(self.idf).tocsr())
        z = np.asarray(x @ self.components, dtype=np.float32)
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return z / norms

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(
            buf,
            idf=self.idf,
            components=self.components,
            singular_values=self.singular_values,
            n_max=np.array(self.n_max),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LsaModel:
        with np.load(io.BytesIO(data)) as z:
            return cls(z["idf"], z["components"], z["singular_values"], int(z["n_max"]))


def fit(
    texts: list[str], *, k: int = 256, features: int = 1 << 14, n_max: int = 2, seed: int = 0
) -> LsaModel:
    """Fit IDF and a rank-k projection on `texts` (k is capped by the number of texts)."""
    if len(texts) < 2:
        raise NFError("NF-SKILL-001", "LSA needs at least two texts to fit")
    tf = term_matrix(texts, features, n_max)
    df = np.bincount(tf.indices, minlength=features)
    idf = (np.log((1.0 + len(texts)) / (1.0 + df)) + 1.0).astype(np.float32)
    x = _l2_rows(tf.multiply(idf).tocsr()).astype(np.float32)
    k = max(1, min(k, min(x.shape) - 1))
    s, v = randomized_svd(x, k, seed=seed)
    return LsaModel(idf, v, s.astype(np.float32), n_max)


def save(model: LsaModel, store: ArtifactStore) -> dict[str, object]:
    """Put the model in the store; returns the params that pin it to an embedding version."""
    blob = store.put_bytes(model.to_bytes(), "npz")
    return {"model_path": blob.path, "model_sha256": blob.sha256, "dimensions": model.dimensions}


@lru_cache(maxsize=8)
def _load(spec: StoreSpec, path: str, sha256: str) -> LsaModel:
    data = open_store(spec).open_bytes(path)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise NFError("NF-STORAGE-002", f"LSA model {path} does not match its sha256")
    return LsaModel.from_bytes(data)


class LsaEmbedding:
    """EmbeddingProvider over a fitted LSA model from the artifact store."""

    name = PROVIDER_NAME

    def __init__(self, store: ArtifactStore, model_path: str, model_sha256: str) -> None:
        self.lsa = _load(store.spec, model_path, model_sha256)
        self.dimensions = self.lsa.dimensions
        self.model = f"lsa-char-1-{self.lsa.n_max}-k{self.dimensions}-{model_sha256[:12]}"

    def embed(self, texts: list[str]) -> EmbeddingResult:
        vectors = self.lsa.transform(texts) if texts else np.zeros((0, self.dimensions))
        return EmbeddingResult(
            vectors=vectors.tolist(),
            dimensions=self.dimensions,
            usage=Usage(self.name, self.model, float(len(texts)), "texts"),
        )
