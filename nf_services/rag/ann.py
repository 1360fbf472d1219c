"""Approximate nearest neighbours without pgvector: an inverted-file (IVF) index in NumPy.

Spherical k-means (cosine) partitions the unit vectors into `nlist` cells; a query scores the
centroids and scans only the `nprobe` best cells exactly. Recall against exact search is the
price of scanning ~nprobe/nlist of the data, and the benchmark measures it. Used where the
server has no pgvector (the PostgreSQL 15 on CI), and as a comparison point where it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


def spherical_kmeans(x: np.ndarray, nlist: int, *, iters: int = 12, seed: int = 0) -> np.ndarray:
    """Unit centroids (nlist x d) of unit rows `x`; empty cells are re-seeded from the points
    worst served by their centroid, so every cell ends up used."""
    rng = np.random.default_rng(seed)
    centroids = x[rng.choice(len(x), size=nlist, replace=False)].copy()
    for _ in range(iters):
        sims = x @ centroids.T
        assign = sims.argmax(1)
        best = sims[np.arange(len(x)), assign]
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, x)
        counts = np.bincount(assign, minlength=nlist)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            worst = np.argsort(best)[: len(empty)]
            sums[empty] = x[worst]
        centroids = _unit(sums)
    return centroids.astype(np.float32)


@dataclass
class IVFIndex:
    centroids: np.ndarray  # (nlist, d)
    order: np.ndarray  # row ids grouped by cell
    offsets: np.ndarray  # cell c holds order[offsets[c]:offsets[c+1]]
    # The vectors in `order`: a cell is a contiguous slice, scored by one matrix-vector product
    # with no gather copy (a copy of the data: memory x2 for the index's lifetime).
    cells: np.ndarray  # (n, d)
    nprobe: int

    @classmethod
    def build(
        cls,
        vectors: np.ndarray,
        *,
        nlist: int | None = None,
        nprobe: int | None = None,
        train_size: int = 50_000,
        seed: int = 0,
    ) -> IVFIndex:
        n = len(vectors)
        if n == 0:
            raise ValueError("cannot index zero vectors")
        nlist = max(1, min(n, nlist or int(4 * math.sqrt(n))))
        rng = np.random.default_rng(seed)
        # k-means on a sample is enough to place cells; every vector is assigned afterwards.
        train = vectors if n <= train_size else vectors[rng.choice(n, train_size, replace=False)]
        centroids = spherical_kmeans(train, nlist, seed=seed)
        assign = np.empty(n, dtype=np.int64)
        for s in range(0, n, 8192):  # bounded memory for the n x nlist similarity block
            assign[s : s + 8192] = (vectors[s : s + 8192] @ centroids.T).argmax(1)
        order = np.argsort(assign, kind="stable")
        offsets = np.searchsorted(assign[order], np.arange(nlist + 1))
        default_probe = max(1, math.ceil(nlist / 8))
        return cls(
            centroids, order, offsets, np.ascontiguousarray(vectors[order]), nprobe or default_probe
        )

    @property
    def nlist(self) -> int:
        return len(self.centroids)

    def search(
        self, queries: np.ndarray, k: int, nprobe: int | None = None
    ) -> list[list[tuple[int, float]]]:
        """Per query, up to k (row id, cosine score) pairs, best first."""
        probe = min(self.nlist, nprobe or self.nprobe)
        cell_scores = queries @ self.centroids.T
        if probe < self.nlist:
            cells = np.argpartition(-cell_scores, probe - 1, axis=1)[:, :probe]
        else:
            cells = np.tile(np.arange(self.nlist), (len(queries), 1))
        out: list[list[tuple[int, float]]] = []
        for q, qcells in zip(queries, cells, strict=True):
            spans = [(self.offsets[c], self.offsets[c + 1]) for c in qcells]
            spans = [(a, b) for a, b in spans if b > a]
            if not spans:
                out.append([])
                continue
            scores = np.concatenate([self.cells[a:b] @ q for a, b in spans])
            pos = np.concatenate([np.arange(a, b) for a, b in spans])
            top = min(k, len(scores))
            part = np.argpartition(-scores, top - 1)[:top]
            part = part[np.argsort(-scores[part], kind="stable")]
            out.append([(int(self.order[pos[i]]), float(scores[i])) for i in part])
        return out


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int) -> list[list[tuple[int, float]]]:
    """The reference: every vector scored, ties broken by row order."""
    if len(vectors) == 0:
        return [[] for _ in range(len(queries))]
    scores = queries @ vectors.T
    top = min(k, vectors.shape[0])
    out = []
    for row in scores:
        part = np.argpartition(-row, top - 1)[:top]
        part = part[np.lexsort((part, -row[part]))]
        out.append([(int(i), float(row[i])) for i in part])
    return out
