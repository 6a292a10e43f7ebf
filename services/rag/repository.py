"""SQL of the RAG service: chunks, the index cursor, embeddings and query runs."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np
from pgvector import Vector

from services.common.database import Connection
from services.rag import bm25
from services.rag.chunking import Chunk

EMBEDDING_STATUSES = ("pending", "processing", "ready", "failed", "skipped")


@dataclass(frozen=True)
class ChunkWriteResult:
    created: int
    changed: int
    unchanged: int
    deleted: int


@dataclass(frozen=True)
class ClaimedChunk:
    id: uuid.UUID
    text: str
    attempts: int


@dataclass(frozen=True)
class ChunkHit:
    chunk_id: uuid.UUID
    source_type: str
    external_id: str
    chunk_index: int
    text: str
    title: str
    url: str
    score: float


async def load_index_cursor(conn: Connection, project_id: str) -> int:
    value = await conn.fetchval(
        "SELECT last_sequence FROM rag.index_cursors WHERE project_id = $1",
        uuid.UUID(project_id),
    )
    return int(value or 0)


async def save_index_cursor(conn: Connection, project_id: str, sequence: int) -> None:
    """Advance the cursor; it never moves backwards, even if two indexers race."""
    await conn.execute(
        "INSERT INTO rag.index_cursors AS c (project_id, last_sequence) VALUES ($1, $2)"
        " ON CONFLICT (project_id) DO UPDATE SET"
        " last_sequence = greatest(c.last_sequence, EXCLUDED.last_sequence),"
        " updated_at = now()",
        uuid.UUID(project_id),
        sequence,
    )


async def upsert_document(
    conn: Connection,
    project_id: str,
    *,
    source_type: str,
    external_id: str,
    title: str,
    url: str,
    updated_at: datetime | None,
    sequence: int,
    chunk_count: int,
    deleted: bool,
) -> None:
    await conn.execute(
        "INSERT INTO rag.rag_documents AS d (project_id, source_type, external_id,"
        " title, url,"
        " source_updated_at, indexed_sequence, chunk_count, deleted_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9 THEN now() END)"
        " ON CONFLICT (project_id, source_type, external_id) DO UPDATE SET"
        " title = EXCLUDED.title, url = EXCLUDED.url,"
        " source_updated_at = EXCLUDED.source_updated_at,"
        " indexed_sequence = EXCLUDED.indexed_sequence, chunk_count ="
        " EXCLUDED.chunk_count,"
        " deleted_at = EXCLUDED.deleted_at, indexed_at = now()",
        uuid.UUID(project_id),
        source_type,
        external_id,
        title,
        url,
        updated_at,
        sequence,
        chunk_count,
        deleted,
    )


async def replace_chunks(
    conn: Connection,
    project_id: str,
    source_type: str,
    external_id: str,
    chunks: Sequence[Chunk],
) -> ChunkWriteResult:
    """Make a document's chunks equal to `chunks`, keeping vectors of unchanged text.

    A chunk keeps its id and embedding when the text at its position hashes the
    same as before; a changed text goes back to `pending` without its vector.
    """
    project = uuid.UUID(project_id)
    before = await bm25.document_terms(conn, project, source_type, external_id)
    rows = await conn.fetch(
        "INSERT INTO rag.rag_chunks AS c (project_id, source_type, external_id,"
        " chunk_index,"
        " text, token_count, content_hash)"
        " SELECT $1, $2, $3, * FROM unnest($4::int[], $5::text[], $6::int[],"
        " $7::text[])"
        " ON CONFLICT (project_id, source_type, external_id, chunk_index) DO UPDATE SET"
        " text = EXCLUDED.text, token_count = EXCLUDED.token_count,"
        " content_hash = EXCLUDED.content_hash, embedding = NULL, embedding_model ="
        " NULL,"
        " embedding_dim = NULL, embedding_status = 'pending', attempts = 0, last_error"
        " = NULL,"
        " next_attempt_at = NULL, embedded_at = NULL, updated_at = now()"
        " WHERE c.content_hash IS DISTINCT FROM EXCLUDED.content_hash"
        " RETURNING (xmax = 0) AS inserted",
        project,
        source_type,
        external_id,
        [chunk.index for chunk in chunks],
        [chunk.text for chunk in chunks],
        [chunk.token_count for chunk in chunks],
        [chunk.content_hash for chunk in chunks],
    )
    deleted = await conn.fetchval(
        "WITH gone AS (DELETE FROM rag.rag_chunks WHERE project_id = $1 AND"
        " source_type = $2"
        " AND external_id = $3 AND chunk_index >= $4 RETURNING 1) SELECT count(*) FROM"
        " gone",
        project,
        source_type,
        external_id,
        len(chunks),
    )
    if rows or deleted:
        after = await bm25.document_terms(conn, project, source_type, external_id)
        await bm25.record_change(conn, project, before, after)
    created = sum(1 for row in rows if row["inserted"])
    changed = len(rows) - created
    return ChunkWriteResult(created, changed, len(chunks) - len(rows), int(deleted))


# The subquery's conditions imply the predicate of rag_chunks_due, so it
# reads the due chunks in claim order and stops at the limit.
CLAIM_DUE_CHUNKS = (
    "UPDATE rag.rag_chunks c SET embedding_status = 'processing', claimed_by = $2,"
    " claimed_at = now(), attempts = c.attempts + 1"
    " WHERE c.id IN (SELECT id FROM rag.rag_chunks"
    "  WHERE project_id = $1 AND (embedding_status = 'pending'"
    "   OR (embedding_status = 'processing'"
    "       AND claimed_at < now() - make_interval(secs => $4)))"
    "  AND (next_attempt_at IS NULL OR next_attempt_at <= now())"
    "  ORDER BY created_at, chunk_index LIMIT $3 FOR UPDATE SKIP LOCKED)"
    " RETURNING c.id, c.text, c.attempts"
)


async def claim_pending(
    conn: Connection,
    project_id: str,
    *,
    limit: int,
    worker: str,
    stale_after_seconds: float,
) -> list[ClaimedChunk]:
    """Mark up to `limit` due chunks `processing` for this worker and return them.

    Concurrency: `FOR UPDATE SKIP LOCKED` lets several workers claim disjoint
    batches; a claim older than stale_after_seconds is taken over, because
    its worker is presumed dead.
    """
    rows = await conn.fetch(
        CLAIM_DUE_CHUNKS,
        uuid.UUID(project_id),
        worker,
        limit,
        stale_after_seconds,
    )
    return [ClaimedChunk(row["id"], row["text"], row["attempts"]) for row in rows]


async def store_embeddings(
    conn: Connection,
    chunk_ids: Sequence[uuid.UUID],
    vectors: Sequence[Sequence[float]],
    *,
    model: str,
    dimension: int,
    worker: str,
) -> int:
    """Store vectors for claimed chunks and mark them ready; return rows written.

    One UPDATE joins the whole batch from arrays, so a batch costs one round
    trip and one statement instead of one per chunk. A chunk that this worker
    no longer has claimed (its claim was taken over) is left alone and not counted.
    Call inside a transaction, which the plan setting below lasts for.
    """
    if len(chunk_ids) != len(vectors):
        raise ValueError(f"got {len(chunk_ids)} chunk ids but {len(vectors)} vectors")
    # A generic plan, which a prepared statement gets after five runs, joined
    # the arrays to the claimed chunks in a nested loop (70 ms instead of
    # 2.5 ms for 256 chunks), so each batch is planned for its own arrays.
    # SET LOCAL lasts until the caller's transaction ends.
    await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    # asyncpg reads a list of lists as a two-dimensional array, so each vector
    # is wrapped in pgvector's Vector to make a one-dimensional vector[].
    status = await conn.execute(
        "UPDATE rag.rag_chunks AS c SET embedding = v.embedding,"
        " embedding_model = $3, embedding_dim = $4, embedding_status = 'ready',"
        " last_error = NULL, embedded_at = now(), updated_at = now()"
        " FROM unnest($1::uuid[], $2::vector[]) AS v(id, embedding)"
        " WHERE c.id = v.id AND c.claimed_by = $5"
        " AND c.embedding_status = 'processing'",
        list(chunk_ids),
        [Vector(np.asarray(vector, dtype=np.float32)) for vector in vectors],
        model,
        dimension,
        worker,
    )
    return int(status.split()[-1])


async def mark_chunks(
    conn: Connection,
    chunk_ids: Sequence[uuid.UUID],
    *,
    status: str,
    error: str | None,
    retry_after_seconds: float | None = None,
) -> None:
    """Set the status of claimed chunks, with the reason and when to try again."""
    await conn.execute(
        "UPDATE rag.rag_chunks SET embedding_status = $2, last_error = $3,"
        " next_attempt_at = CASE WHEN $4::float8 IS NULL THEN NULL"
        "  ELSE now() + make_interval(secs => $4::float8) END,"
        " claimed_by = NULL, updated_at = now() WHERE id = ANY($1::uuid[])",
        list(chunk_ids),
        status,
        error,
        retry_after_seconds,
    )


async def count_pending(conn: Connection, project_id: str) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM rag.rag_chunks WHERE project_id = $1"
        " AND embedding_status IN ('pending', 'processing')",
        uuid.UUID(project_id),
    )
    return int(value)


async def chunk_status_counts(conn: Connection, project_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT embedding_status, count(*) AS n FROM rag.rag_chunks WHERE project_id ="
        " $1"
        " GROUP BY embedding_status",
        uuid.UUID(project_id),
    )
    counts = dict.fromkeys(EMBEDDING_STATUSES, 0)
    counts.update({row["embedding_status"]: int(row["n"]) for row in rows})
    return counts


async def document_counts(conn: Connection, project_id: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT source_type, count(*) AS n FROM rag.rag_documents"
        " WHERE project_id = $1 AND deleted_at IS NULL GROUP BY source_type",
        uuid.UUID(project_id),
    )
    return {row["source_type"]: int(row["n"]) for row in rows}


# 1536-dim vectors of text-embedding-3 models are indexed by their first 512
# components (migration 005). Candidates come from that index, PREFIX_OVERSAMPLING
# per requested row, and the full vectors rank them.
# NOTE: recall against an exact search was 0.95 or more for 50 rows but 0.86 for
# 10 rows, on synthetic clustered vectors (tests/rag/test_vector_index.py), so
# callers should ask for at least the default 50 candidates.
PREFIX_INDEXED_DIMENSION = 1536
PREFIX_LENGTH = 512
PREFIX_MODEL_PATTERN = "text-embedding-3-%"
PREFIX_OVERSAMPLING = 4


def uses_prefix_index(dimension: int, model: str) -> bool:
    """Tell whether searches of this model's vectors use the prefix index."""
    prefix = PREFIX_MODEL_PATTERN.removesuffix("%")
    return dimension == PREFIX_INDEXED_DIMENSION and model.startswith(prefix)


def vector_search_sql(dimension: int, model: str) -> str:
    """Build the vector search for one dimension and model.

    Parameters: $1 project id, $2 query vector, $3 model, $4 source types,
    $5 limit. The ORDER BY expression and the WHERE clause repeat those of
    the partial HNSW index of the dimension, or the planner cannot use it.
    """
    dim = int(dimension)
    distance = f"c.embedding::vector({dim}) <=> $2::vector({dim})"
    columns = "c.id, c.project_id, c.source_type, c.external_id, c.chunk_index, c.text"
    where = (
        f"c.project_id = $1 AND c.embedding_dim = {dim}"
        " AND c.embedding_model = $3 AND c.embedding_status = 'ready'"
        " AND (cardinality($4::text[]) = 0 OR c.source_type = ANY($4::text[]))"
    )
    if uses_prefix_index(dim, model):
        prefix = f"subvector(%s, 1, {PREFIX_LENGTH})::halfvec({PREFIX_LENGTH})"
        candidates = (
            f"SELECT {columns}, c.embedding FROM rag.rag_chunks c WHERE {where}"
            f" AND c.embedding_model LIKE '{PREFIX_MODEL_PATTERN}'"
            f" ORDER BY {prefix % 'c.embedding'} <=>"
            f" {prefix % f'$2::vector({dim})'}"
            f" LIMIT $5 * {PREFIX_OVERSAMPLING}"
        )
        hits = (
            f"SELECT {columns}, {distance} AS distance FROM ({candidates}) c"
            " ORDER BY distance LIMIT $5"
        )
    else:
        if dim == PREFIX_INDEXED_DIMENSION:
            where += f" AND c.embedding_model NOT LIKE '{PREFIX_MODEL_PATTERN}'"
        hits = (
            f"SELECT {columns}, {distance} AS distance FROM rag.rag_chunks c"
            f" WHERE {where} ORDER BY {distance} LIMIT $5"
        )
    # The documents are joined after the LIMIT: joined before it, the planner
    # misjudged the join's size and walked every document of a mid-sized
    # project with an exact sort instead of the HNSW index. Equal distances
    # (identical texts) among the returned rows go in record order. The index
    # decides which of several equal rows make the limit, because a second
    # sort key there would keep the planner from using the index.
    return (
        f"SELECT hits.*, d.title, d.url FROM ({hits}) hits"
        " JOIN rag.rag_documents d USING (project_id, source_type, external_id)"
        " ORDER BY hits.distance, hits.source_type, hits.external_id, hits.chunk_index"
    )


async def vector_search(
    conn: Connection,
    project_id: str,
    query_vector: Sequence[float],
    *,
    model: str,
    dimension: int,
    limit: int,
    source_types: Sequence[str],
    ef_search: int,
) -> list[ChunkHit]:
    """Return the nearest ready chunks of the project by cosine distance.

    HNSW alone returns about ef_search candidates and filters afterwards, so a
    selective project or source filter could leave fewer than `limit` rows.
    pgvector's iterative scan (0.8+) keeps reading the graph until `limit`
    rows pass the filter; relaxed order is re-sorted by the outer query.
    Call inside a transaction so the SET LOCAL settings apply.
    """
    await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
    await conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef_search)}")
    rows = await conn.fetch(
        vector_search_sql(dimension, model),
        uuid.UUID(project_id),
        np.asarray(query_vector, dtype=np.float32),
        model,
        list(source_types),
        limit,
    )
    return [_hit(row, 1.0 - float(row["distance"])) for row in rows]


async def fulltext_search(
    conn: Connection,
    project_id: str,
    question: str,
    *,
    limit: int,
    source_types: Sequence[str],
) -> list[ChunkHit]:
    """Return chunks holding words of the question, best BM25 score first.

    The question's words are the lexemes of the same 'russian' configuration
    and ё folding as the stored tsvector, so no character of the question acts
    as a query operator. Candidates hold at least one of its rarest words
    (see services/rag/bm25.py), and every word of the question adds to the
    score. A chunk's length is its token_count. Equal scores go in record
    order, so an index rebuilt from the same data ranks alike.
    """
    project = uuid.UUID(project_id)
    terms = await bm25.query_terms(conn, project, question)
    if not terms.match:
        return []
    rows = await conn.fetch(
        "WITH terms AS (SELECT * FROM unnest($3::text[], $4::float8[])"
        " AS t(lexeme, idf)),"
        " candidates AS (SELECT c.id, c.source_type, c.external_id, c.chunk_index,"
        " c.token_count, c.search_tsv"
        " FROM rag.rag_chunks c WHERE c.project_id = $1"
        " AND c.search_tsv @@ $2::tsquery"
        " AND (cardinality($5::text[]) = 0 OR c.source_type = ANY($5::text[]))),"
        " scored AS (SELECT c.id, sum(terms.idf * w.tf * ($7 + 1) / (w.tf + $7"
        " * (1 - $8 + $8 * c.token_count / $6))) AS rank"
        " FROM candidates c CROSS JOIN LATERAL (SELECT u.lexeme,"
        " coalesce(cardinality(u.positions), 1) AS tf"
        " FROM unnest(c.search_tsv) AS u) AS w JOIN terms USING (lexeme)"
        " GROUP BY c.id, c.source_type, c.external_id, c.chunk_index"
        " ORDER BY rank DESC, c.source_type, c.external_id, c.chunk_index LIMIT $9)"
        " SELECT c.id, c.source_type, c.external_id, c.chunk_index, c.text, d.title,"
        " d.url, s.rank FROM scored s JOIN rag.rag_chunks c ON c.id = s.id"
        " JOIN rag.rag_documents d USING (project_id, source_type, external_id)"
        " ORDER BY s.rank DESC, c.source_type, c.external_id, c.chunk_index",
        project,
        terms.match,
        terms.lexemes,
        terms.idf,
        list(source_types),
        terms.mean_length,
        bm25.K1,
        bm25.B,
        limit,
    )
    return [_hit(row, float(row["rank"])) for row in rows]


def _hit(row: asyncpg.Record, score: float) -> ChunkHit:
    return ChunkHit(
        chunk_id=row["id"],
        source_type=row["source_type"],
        external_id=row["external_id"],
        chunk_index=row["chunk_index"],
        text=row["text"],
        title=row["title"],
        url=row["url"],
        score=score,
    )


async def insert_query_run(
    conn: Connection,
    *,
    project_id: str,
    user_id: str,
    question: str,
    mode: str,
    status: str,
    duration_ms: float,
    trace_id: str,
    request_id: str,
    evidence_count: int = 0,
    vector_available: bool | None = None,
    answer_method: str | None = None,
    error_code: str | None = None,
    error: str | None = None,
) -> str:
    """Record one query, failed ones included; return its id."""
    value = await conn.fetchval(
        "INSERT INTO rag.lightrag_query_runs (project_id, user_id, question, mode,"
        " status,"
        " duration_ms, trace_id, request_id, evidence_count, vector_available,"
        " answer_method,"
        " error_code, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
        " $12, $13)"
        " RETURNING id",
        uuid.UUID(project_id),
        user_id,
        question,
        mode,
        status,
        duration_ms,
        trace_id,
        request_id,
        evidence_count,
        vector_available,
        answer_method,
        error_code,
        error,
    )
    return str(value)


@dataclass(frozen=True)
class QueryFeedback:
    query_run_id: str
    project_id: str
    user_id: str
    rating: int
    comment: str
    created_at: datetime


async def upsert_query_feedback(
    conn: Connection,
    *,
    project_id: str,
    query_run_id: uuid.UUID,
    user_id: str,
    rating: int,
    comment: str,
) -> QueryFeedback | None:
    """Store a user's rating of a query run, replacing their earlier one.

    Return None when the project has no query run with this id, so a run of
    another project is never rated.
    """
    row = await conn.fetchrow(
        "INSERT INTO rag.lightrag_query_feedback AS f"
        " (query_run_id, project_id, user_id, rating, comment)"
        " SELECT r.id, r.project_id, $3, $4, $5 FROM rag.lightrag_query_runs r"
        " WHERE r.id = $1 AND r.project_id = $2"
        " ON CONFLICT (query_run_id, user_id) DO UPDATE SET"
        " rating = EXCLUDED.rating, comment = EXCLUDED.comment, created_at = now()"
        " RETURNING f.query_run_id, f.project_id, f.user_id, f.rating, f.comment,"
        " f.created_at",
        query_run_id,
        uuid.UUID(project_id),
        user_id,
        rating,
        comment,
    )
    if row is None:
        return None
    return QueryFeedback(
        query_run_id=str(row["query_run_id"]),
        project_id=str(row["project_id"]),
        user_id=row["user_id"],
        rating=row["rating"],
        comment=row["comment"],
        created_at=row["created_at"],
    )
