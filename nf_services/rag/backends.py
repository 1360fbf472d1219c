"""Embedding backends an embedding version can name, and how to build one from its params.

- `char-ngram`: hashed character n-grams (nf_services.providers.offline_embedding), sparse-ish,
  no fitting; the always-available default.
- `lsa`: TF-IDF + truncated SVD fitted on the project's chunks (nf_services.rag.lsa), dense.
- `minilm`: all-MiniLM-L6-v2 from the optional `[dense]` extra (nf_services.rag.minilm), dense.
- `openai`: any OpenAI-compatible /v1/embeddings endpoint (production).

A version's `params` hold everything that changes its vectors, so rebuilding the embedder from
the row reproduces the index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nf_services.providers.base import EmbeddingProvider
from nf_services.providers.offline_embedding import HashingNgramEmbedding
from nf_services.rag import lsa, minilm
from shared.errors import NFError
from shared.storage import ArtifactStore, artifact_store

BACKENDS: tuple[str, ...] = ("char-ngram", "lsa", "minilm", "openai")
_CHAR_DEFAULTS = {"dimensions": 512, "n_min": 1, "n_max": 3}
_LSA_DEFAULTS = {"k": 256, "features": 1 << 14, "n_max": 2, "seed": 0}


def _check(backend: str) -> None:
    if backend not in BACKENDS:
        raise NFError("NF-INPUT-001", f"unknown embedding backend {backend!r}; one of {BACKENDS}")


def normalize_params(backend: str, params: Mapping[str, Any] | None) -> tuple[dict, str, int]:
    """(full params, model name, dimensions) for a new version of `backend`."""
    _check(backend)
    given = dict(params or {})
    if backend == "char-ngram":
        full = {**_CHAR_DEFAULTS, **given}
        emb = HashingNgramEmbedding(int(full["dimensions"]), int(full["n_min"]), int(full["n_max"]))
        return full, emb.model, emb.dimensions
    if backend == "lsa":
        full = {**_LSA_DEFAULTS, **given}
        # Until fitted the width is the requested k; fitting may lower it (rank <= #texts - 1).
        return full, f"lsa-char-1-{full['n_max']}-k{full['k']}", int(full["k"])
    if backend == "minilm":
        if not minilm.available():
            raise NFError("NF-PROVIDER-006", "backend 'minilm' needs the [dense] extra installed")
        return given, minilm.MODEL_NAME, 384
    # openai: the width must be declared, the row needs it before the first call
    for key in ("base_url", "model", "dimensions"):
        if not given.get(key):
            raise NFError("NF-PROVIDER-006", f"backend 'openai' needs params.{key}")
    return given, str(given["model"]), int(given["dimensions"])


def needs_fit(backend: str, params: Mapping[str, Any]) -> bool:
    return backend == "lsa" and not params.get("model_path")


def fit(
    backend: str, params: Mapping[str, Any], texts: list[str], store: ArtifactStore
) -> dict[str, Any]:
    """Params with the fitted model pinned (only `lsa` fits); `dimensions` is the real width."""
    if backend != "lsa":
        return dict(params)
    model = lsa.fit(
        texts,
        k=int(params["k"]),
        features=int(params["features"]),
        n_max=int(params["n_max"]),
        seed=int(params["seed"]),
    )
    return {**params, **lsa.save(model, store), "fit_texts": len(texts)}


def build_embedder(
    backend: str,
    params: Mapping[str, Any],
    *,
    store: ArtifactStore | None = None,
    environ: Mapping[str, str] | None = None,
) -> EmbeddingProvider:
    _check(backend)
    if backend == "char-ngram":
        p = {**_CHAR_DEFAULTS, **params}
        return HashingNgramEmbedding(int(p["dimensions"]), int(p["n_min"]), int(p["n_max"]))
    if backend == "lsa":
        if needs_fit(backend, params):
            raise NFError("NF-RAG-003", "the LSA version is not fitted yet (index it first)")
        if store is None:
            store = artifact_store()
        return lsa.LsaEmbedding(store, str(params["model_path"]), str(params["model_sha256"]))
    if backend == "minilm":
        return minilm.MiniLMEmbedding(int(params.get("batch_size", 16)))
    from nf_services.providers.registry import build_provider

    return build_provider("embedding", {**params, "kind": "openai"}, environ=environ)  # type: ignore[return-value]
