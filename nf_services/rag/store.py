"""Chunk and embedding storage, and search, always scoped to tenant/project/embedding version.

Three search paths return the same shape:

- `exact`: every vector of the version scored in NumPy (the matrix is loaded once per version
  and cached until its rows change). The reference for recall.
- `sql`: exact scoring inside PostgreSQL over the `float4[]` column; any PostgreSQL, no cache.
- `ivf`: the NumPy inverted-file index of nf_services.rag.ann over the cached matrix.
- `pgvector`: an HNSW index where the server has pgvector (detected with
  `CREATE EXTENSION IF NOT EXISTS vector`). Its vectors live in a runtime-managed side table per
  embedding version in schema `rag_vectors`, outside the Alembic-managed metadata: a `vector(d)`
  column needs a fixed width, and a version fixes it. The `rag_embeddings` rows stay the source
  of truth; `sync_pgvector` copies them over (in SQL, `real[]::vector`).

Every query filters by tenant_id and project_id besides the version id, so a version id that
leaked to another tenant still returns nothing there.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from psycopg2.extras import execute_values
from sqlalchemy import Engine, bindparam, delete, func, literal, select, text
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError

from nf_services.rag.ann import IVFIndex, exact_search
from shared.config import get_settings
from shared.errors import NFError
from shared.models import Base

T = Base.metadata.tables
VECTOR_SCHEMA = "rag_vectors"
Method = Literal["auto", "exact", "sql", "ivf", "pgvector"]
METHODS: tuple[str, ...] = ("auto", "exact", "sql", "ivf", "pgvector")
# `auto` search: up to this many vectors the NumPy scan (exact) is used: 8-12 ms p50 at
# 100k x 512 on 2 cores with recall 1, where pgvector's HNSW (m=16, ef_construction=64) reached
# 0.84 recall@10 at ef_search=400 on hashed n-gram vectors (bench/bench_rag.py). Beyond it the
# matrix would cost too much memory per process: pgvector where ready, else IVF.
EXACT_MAX_ROWS = 100_000
DEFAULT_EF_SEARCH = 400
# pgvector 0.6 indexes at most 2000 dimensions (HNSW); wider versions use exact/ivf.
PGVECTOR_MAX_DIMS = 2000
_BATCH = 1000


def chunk_row_id(novel_id: uuid.UUID, chunk_id: str) -> str:
    """rag_chunks.id: SKILL_03's chunk id is stable per chapter text, the novel id makes it
    unique across novels and tenants."""
    return f"{novel_id.hex}-{chunk_id}"


@dataclass(frozen=True)
class ChunkRow:
    id: str
    novel_id: uuid.UUID
    chapter_index: int
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Hit:
    chunk_id: str
    score: float
    rank: int


@dataclass(frozen=True)
class ChunkWrite:
    inserted: int
    kept: int
    deleted: int


@dataclass
class _Matrix:
    fingerprint: tuple
    ids: list[str]
    vectors: np.ndarray
    ivf: IVFIndex | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    checked_at: float = field(default_factory=time.monotonic)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vectors / norms).astype(np.float32)


def _decode_array(raw: bytes) -> np.ndarray:
    """A 1-D float4[] in array_send format: 20-byte header (ndim, has-nulls, element type,
    length, lower bound), then (int32 length, big-endian float32) per element."""
    ndim, has_nulls, _, n, _ = np.frombuffer(raw, dtype=">i4", count=5)
    if ndim != 1 or has_nulls or len(raw) != 20 + 8 * n:
        raise NFError("NF-RAG-002", "a stored vector is not a flat float4 array")
    return np.frombuffer(raw, dtype=">f4", offset=20)[1::2].astype(np.float32)


# Vectors travel as float4[] text literals parsed by the server's array_in: psycopg2 renders a
# Python list as ARRAY[c1, c2, ...], an expression of one node per element to parse and plan.
_UPSERT_EMBEDDINGS = (
    "INSERT INTO rag_embeddings (tenant_id, project_id, trace_id, chunk_id, "
    "embedding_version_id, vector) VALUES %s ON CONFLICT (chunk_id, embedding_version_id) "
    "DO UPDATE SET vector = EXCLUDED.vector, trace_id = EXCLUDED.trace_id, updated_at = now()"
)
_UPSERT_TEMPLATE = "(%s, %s, %s, %s, %s, %s::real[])"


def _array_literals(block: np.ndarray) -> list[str]:
    buf = io.StringIO()
    np.savetxt(buf, block, fmt="%.9g", delimiter=",")  # 9 digits: float32 round-trips
    return ["{" + line + "}" for line in buf.getvalue().splitlines()]


def _side_table(version_id: uuid.UUID) -> str:
    return f"{VECTOR_SCHEMA}.v_{version_id.hex}"


def _vec_literal(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in v) + "]"


_PGV_CACHE: dict[str, bool] = {}
_MATRICES: dict[tuple, _Matrix] = {}
_MATRIX_LOCK = threading.Lock()


class RagStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # chunks ------------------------------------------------------------------------------
    def write_chunks(
        self,
        *,
        tenant_id: str,
        project_id: str,
        trace_id: str,
        novel_id: uuid.UUID,
        chunks: Sequence,  # nf_skills.contracts.Chunk
    ) -> ChunkWrite:
        """Make the novel's chunk set equal to `chunks`: new ones inserted, unchanged ones kept
        (with their embeddings), vanished ones deleted (their embeddings cascade)."""
        table = T["rag_chunks"]
        rows = {
            chunk_row_id(novel_id, c.chunk_id): {
                "id": chunk_row_id(novel_id, c.chunk_id),
                "tenant_id": tenant_id,
                "project_id": project_id,
                "trace_id": trace_id,
                "novel_id": novel_id,
                "chapter_index": c.chapter_index,
                "start_offset": c.start,
                "end_offset": c.end,
                "text": c.text,
                "text_sha256": hashlib.sha256(c.text.encode()).hexdigest(),
            }
            for c in chunks
        }
        with self.engine.begin() as conn:
            existing = set(
                conn.execute(
                    select(table.c.id).where(
                        table.c.tenant_id == tenant_id,
                        table.c.project_id == project_id,
                        table.c.novel_id == novel_id,
                    )
                ).scalars()
            )
            new = [r for k, r in rows.items() if k not in existing]
            gone = sorted(existing - rows.keys())
            for s in range(0, len(new), _BATCH):
                conn.execute(pg_insert(table).values(new[s : s + _BATCH]).on_conflict_do_nothing())
            for s in range(0, len(gone), _BATCH):
                conn.execute(delete(table).where(table.c.id.in_(gone[s : s + _BATCH])))
        if gone:  # their vectors went with them (cascade)
            self._invalidate(tenant_id, project_id, None)
        return ChunkWrite(len(new), len(existing & rows.keys()), len(gone))

    def chunk_rows(
        self,
        tenant_id: str,
        project_id: str,
        *,
        novel_id: uuid.UUID | None = None,
        ids: Sequence[str] | None = None,
        missing_for_version: uuid.UUID | None = None,
    ) -> list[ChunkRow]:
        """Chunks in reading order; optionally only `ids`, or only those without an embedding
        for `missing_for_version`."""
        c, e = T["rag_chunks"], T["rag_embeddings"]
        q = select(
            c.c.id, c.c.novel_id, c.c.chapter_index, c.c.start_offset, c.c.end_offset, c.c.text
        ).where(c.c.tenant_id == tenant_id, c.c.project_id == project_id)
        if novel_id is not None:
            q = q.where(c.c.novel_id == novel_id)
        if ids is not None:
            q = q.where(c.c.id.in_(list(ids)))
        if missing_for_version is not None:
            q = q.where(
                ~select(e.c.id)
                .where(e.c.chunk_id == c.c.id, e.c.embedding_version_id == missing_for_version)
                .exists()
            )
        q = q.order_by(c.c.novel_id, c.c.chapter_index, c.c.start_offset, c.c.id)
        with self.engine.connect() as conn:
            return [ChunkRow(*r) for r in conn.execute(q).all()]

    def _invalidate(self, tenant_id: str, project_id: str, version_id: uuid.UUID | None) -> None:
        url = str(self.engine.url)
        with _MATRIX_LOCK:
            for key in [
                k
                for k in _MATRICES
                if k[:3] == (url, tenant_id, project_id)
                and (version_id is None or k[3] == version_id)
            ]:
                del _MATRICES[key]

    def coverage(
        self,
        tenant_id: str,
        project_id: str,
        version_id: uuid.UUID,
        *,
        novel_id: uuid.UUID | None = None,
    ) -> tuple[int, int]:
        """(chunks, chunks with a vector for the version), for a novel or the project."""
        c, e = T["rag_chunks"], T["rag_embeddings"]
        q = (
            select(func.count(c.c.id), func.count(e.c.id))
            .select_from(
                c.outerjoin(e, (e.c.chunk_id == c.c.id) & (e.c.embedding_version_id == version_id))
            )
            .where(c.c.tenant_id == tenant_id, c.c.project_id == project_id)
        )
        if novel_id is not None:
            q = q.where(c.c.novel_id == novel_id)
        with self.engine.connect() as conn:
            total, done = conn.execute(q).one()
        return int(total), int(done)

    def chunk_fingerprint(self, tenant_id: str, project_id: str, novel_id: uuid.UUID) -> str:
        """md5 over a novel's chunk ids (which hash their text and offsets): the chunk set."""
        c = T["rag_chunks"]
        ids = func.string_agg(c.c.id, aggregate_order_by(literal(","), c.c.id))
        q = select(func.md5(ids)).where(
            c.c.tenant_id == tenant_id, c.c.project_id == project_id, c.c.novel_id == novel_id
        )
        with self.engine.connect() as conn:
            return conn.execute(q).scalar() or ""

    # embeddings --------------------------------------------------------------------------
    def write_embeddings(
        self,
        *,
        tenant_id: str,
        project_id: str,
        trace_id: str,
        version_id: uuid.UUID,
        dimensions: int,
        chunk_ids: Sequence[str],
        vectors: np.ndarray | Sequence[Sequence[float]],
    ) -> int:
        """Upsert one vector per chunk (L2-normalised, so a dot product is the cosine)."""
        arr = np.asarray(vectors, dtype=np.float32)
        if len(chunk_ids) == 0:
            return 0
        if arr.ndim != 2 or arr.shape != (len(chunk_ids), dimensions):
            raise NFError(
                "NF-RAG-002",
                f"got vectors of shape {arr.shape} for {len(chunk_ids)} chunks of width "
                f"{dimensions}",
            )
        if not np.isfinite(arr).all():
            raise NFError("NF-RAG-002", "embedding vectors contain NaN or infinity")
        arr = _unit_rows(arr)
        with self.engine.begin() as conn:
            cur = conn.connection.driver_connection.cursor()
            for s in range(0, len(chunk_ids), _BATCH):
                rows = [
                    (tenant_id, project_id, trace_id, cid, version_id, lit)
                    for cid, lit in zip(
                        chunk_ids[s : s + _BATCH], _array_literals(arr[s : s + _BATCH]), strict=True
                    )
                ]
                execute_values(
                    cur, _UPSERT_EMBEDDINGS, rows, template=_UPSERT_TEMPLATE, page_size=_BATCH
                )
        self._invalidate(tenant_id, project_id, version_id)
        return len(chunk_ids)

    def _fingerprint(self, conn, tenant_id: str, project_id: str, version_id: uuid.UUID) -> tuple:
        e = T["rag_embeddings"]
        row = conn.execute(
            select(func.count(), func.max(e.c.updated_at)).where(
                e.c.tenant_id == tenant_id,
                e.c.project_id == project_id,
                e.c.embedding_version_id == version_id,
            )
        ).one()
        return (int(row[0]), row[1])

    def matrix(self, tenant_id: str, project_id: str, version_id: uuid.UUID) -> _Matrix:
        """The version's (chunk ids, unit vectors), cached until its rows change.

        Writes through this module drop the cache at once; another process's writes are seen
        once the entry is older than the rag_matrix_ttl_seconds setting (then a
        count/max(updated_at) probe decides whether to reload), so a hot query path does not probe
        on every call.
        """
        key = (str(self.engine.url), tenant_id, project_id, version_id)
        cached = _MATRICES.get(key)
        ttl = get_settings().rag_matrix_ttl_seconds
        if cached is not None and time.monotonic() - cached.checked_at < ttl:
            return cached
        with self.engine.connect() as conn:
            fp = self._fingerprint(conn, tenant_id, project_id, version_id)
            if cached is not None and cached.fingerprint == fp:
                cached.checked_at = time.monotonic()
                return cached
            e = T["rag_embeddings"]
            # PostgreSQL's binary array form, decoded by NumPy: psycopg2 would build one Python
            # float per element (minutes for 100k x 512).
            rows = conn.execute(
                select(e.c.chunk_id, func.array_send(e.c.vector)).where(
                    e.c.tenant_id == tenant_id,
                    e.c.project_id == project_id,
                    e.c.embedding_version_id == version_id,
                )
            ).all()
        rows.sort(key=lambda r: r[0])  # Python order (not the server's collation): bisectable
        ids = [r[0] for r in rows]
        vectors = (
            np.stack([_decode_array(bytes(r[1])) for r in rows])
            if rows
            else np.zeros((0, 0), dtype=np.float32)
        )
        m = _Matrix(fp, ids, vectors)
        with _MATRIX_LOCK:
            _MATRICES[key] = m
        return m

    # search ------------------------------------------------------------------------------
    def search(
        self,
        tenant_id: str,
        project_id: str,
        version_id: uuid.UUID,
        queries: np.ndarray,
        k: int,
        *,
        method: Method = "auto",
        nprobe: int | None = None,
        ef_search: int = DEFAULT_EF_SEARCH,
        novel_id: uuid.UUID | None = None,
    ) -> list[list[Hit]]:
        """Top-k chunks per query vector (rows of `queries`), best first.

        With `novel_id` only that novel's chunks compete; approximate methods then fall back to
        an exact scan of the novel's rows (contiguous in the id-ordered matrix, so cheap).
        """
        if method not in METHODS:
            raise NFError("NF-INPUT-001", f"unknown search method {method!r}; one of {METHODS}")
        q = _unit_rows(np.atleast_2d(np.asarray(queries, dtype=np.float32)))
        if novel_id is not None:
            return self._search_novel(tenant_id, project_id, version_id, q, k, novel_id, method)
        if method == "auto":
            method = self.auto_method(tenant_id, project_id, version_id)
        if method == "pgvector":
            return [
                self._search_pgvector(tenant_id, project_id, version_id, row, k, ef_search)
                for row in q
            ]
        if method == "sql":
            return [self._search_sql(tenant_id, project_id, version_id, row, k) for row in q]
        m = self.matrix(tenant_id, project_id, version_id)
        if m.vectors.size and m.vectors.shape[1] != q.shape[1]:
            raise NFError("NF-RAG-002", f"query width {q.shape[1]} != index {m.vectors.shape[1]}")
        if method == "ivf" and len(m.ids):
            with m.lock:
                if m.ivf is None:
                    m.ivf = IVFIndex.build(m.vectors)
            found = m.ivf.search(q, k, nprobe)
        else:
            found = exact_search(m.vectors, q, k)
        return [[Hit(m.ids[i], s, r + 1) for r, (i, s) in enumerate(row)] for row in found]

    def _search_novel(self, tenant_id, project_id, version_id, q, k, novel_id, method):
        prefix = novel_id.hex + "-"
        if method == "sql":
            return [
                self._search_sql(tenant_id, project_id, version_id, row, k, prefix) for row in q
            ]
        m = self.matrix(tenant_id, project_id, version_id)
        lo = bisect.bisect_left(m.ids, prefix)
        hi = bisect.bisect_left(m.ids, novel_id.hex + ".")  # "." sorts right after "-"
        found = exact_search(m.vectors[lo:hi], q, k)
        return [[Hit(m.ids[lo + i], s, r + 1) for r, (i, s) in enumerate(row)] for row in found]

    def auto_method(self, tenant_id: str, project_id: str, version_id: uuid.UUID) -> str:
        cached = _MATRICES.get((str(self.engine.url), tenant_id, project_id, version_id))
        if cached is not None:
            n = len(cached.ids)
        else:
            with self.engine.connect() as conn:
                n = self._fingerprint(conn, tenant_id, project_id, version_id)[0]
        if n <= EXACT_MAX_ROWS:
            return "exact"
        return "pgvector" if self.pgvector_ready(version_id) else "ivf"

    def _search_sql(
        self, tenant_id, project_id, version_id, q: np.ndarray, k: int, prefix: str = ""
    ) -> list[Hit]:
        stmt = text(
            # float8 products: a float4 product of two small components raises "underflow"
            "SELECT e.chunk_id, (SELECT sum(a::float8 * b::float8) "
            "FROM unnest(e.vector, :q) AS t(a, b)) AS s "
            "FROM rag_embeddings e WHERE e.tenant_id = :t AND e.project_id = :p "
            "AND e.embedding_version_id = :v AND e.chunk_id LIKE :prefix "
            "ORDER BY s DESC, e.chunk_id LIMIT :k"
        ).bindparams(bindparam("q", type_=T["rag_embeddings"].c.vector.type))
        params = {
            "q": q.tolist(),
            "t": tenant_id,
            "p": project_id,
            "v": version_id,
            "k": k,
            "prefix": prefix + "%",
        }
        with self.engine.connect() as conn:
            rows = conn.execute(stmt, params).all()
        return [Hit(r[0], float(r[1]), i + 1) for i, r in enumerate(rows)]

    # pgvector ----------------------------------------------------------------------------
    def pgvector_available(self) -> bool:
        """Whether the server has pgvector (the extension is created on first use)."""
        key = str(self.engine.url)
        if key not in _PGV_CACHE:
            try:
                with self.engine.begin() as conn:
                    conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
                    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {VECTOR_SCHEMA}"))
                _PGV_CACHE[key] = True
            except DBAPIError:
                _PGV_CACHE[key] = False
        return _PGV_CACHE[key]

    def pgvector_ready(self, version_id: uuid.UUID) -> bool:
        if not self.pgvector_available():
            return False
        with self.engine.connect() as conn:
            return bool(
                conn.execute(
                    text("SELECT to_regclass(:t) IS NOT NULL"), {"t": _side_table(version_id)}
                ).scalar()
            )

    def sync_pgvector(
        self, tenant_id: str, project_id: str, version_id: uuid.UUID, dimensions: int
    ) -> int | None:
        """Copy the version's vectors into its HNSW-indexed side table; None without pgvector.
        Returns the number of rows in the side table."""
        if not self.pgvector_available() or dimensions > PGVECTOR_MAX_DIMS:
            return None
        table = _side_table(version_id)
        params = {"t": tenant_id, "p": project_id, "v": version_id}
        with self.engine.begin() as conn:
            conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            conn.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {table} (chunk_id text PRIMARY KEY, "
                    f"tenant_id text NOT NULL, project_id text NOT NULL, "
                    f"embedding vector({int(dimensions)}) NOT NULL)"
                )
            )
            # In-line, uncompressed vectors: a 512-d vector (2 KB) would be TOASTed and
            # de-toasted on every row a scan touches.
            conn.execute(text(f"ALTER TABLE {table} ALTER COLUMN embedding SET STORAGE PLAIN"))
            conn.execute(
                text(
                    f"DELETE FROM {table} s WHERE NOT EXISTS (SELECT 1 FROM rag_embeddings e "
                    f"WHERE e.chunk_id = s.chunk_id AND e.embedding_version_id = :v "
                    f"AND e.tenant_id = :t AND e.project_id = :p)"
                ),
                params,
            )
            conn.execute(
                text(
                    f"INSERT INTO {table} (chunk_id, tenant_id, project_id, embedding) "
                    f"SELECT e.chunk_id, e.tenant_id, e.project_id, e.vector::vector FROM "
                    f"rag_embeddings e WHERE e.embedding_version_id = :v AND e.tenant_id = :t "
                    f"AND e.project_id = :p ON CONFLICT (chunk_id) DO UPDATE SET "
                    f"embedding = EXCLUDED.embedding WHERE {table}.embedding <> EXCLUDED.embedding"
                ),
                params,
            )
            # Built after the first bulk load (faster than growing it row by row); later
            # inserts maintain it.
            conn.execute(
                text(
                    f"CREATE INDEX IF NOT EXISTS v_{version_id.hex}_hnsw ON {table} "
                    f"USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
                )
            )
            # Fresh statistics: right after a bulk load the planner would otherwise prefer a
            # sequential scan + sort over the index (seen at 100k rows before autovacuum ran).
            conn.execute(text(f"ANALYZE {table}"))
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar())

    def _search_pgvector(
        self, tenant_id, project_id, version_id, q: np.ndarray, k: int, ef_search: int
    ) -> list[Hit]:
        table = _side_table(version_id)
        with self.engine.begin() as conn:
            conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(ef_search), k)}"))
            rows = conn.execute(
                text(
                    f"SELECT chunk_id, 1 - (embedding <=> CAST(:q AS vector)) FROM {table} "
                    f"WHERE tenant_id = :t AND project_id = :p "
                    f"ORDER BY embedding <=> CAST(:q AS vector) LIMIT :k"
                ),
                {"q": _vec_literal(q), "t": tenant_id, "p": project_id, "k": k},
            ).all()
        return [Hit(r[0], float(r[1]), i + 1) for i, r in enumerate(rows)]
