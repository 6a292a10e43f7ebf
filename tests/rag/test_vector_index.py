"""Vector search of 1536-dim OpenAI vectors through their HNSW indexes."""

import uuid

import asyncpg
import numpy as np
from pgvector import Vector

from services.rag import repository
from tests.rag.conftest import PROJECT

DIM = 1536
MATRYOSHKA_MODEL = "text-embedding-3-small"
LEGACY_MODEL = "text-embedding-ada-002"
# The product's default number of vector candidates per query (search_candidates).
LIMIT = 50


async def _insert(pool: asyncpg.Pool, model: str, vectors: np.ndarray) -> None:
    project = uuid.UUID(PROJECT)
    count = len(vectors)
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO rag.rag_documents (project_id, source_type, external_id,"
            " title, indexed_sequence, chunk_count)"
            " SELECT $1, 'linear_issue', 'doc-' || i, 'Doc ' || i, 1, 1"
            " FROM generate_series(0, $2 - 1) AS i",
            project,
            count,
        )
        await conn.execute(
            "INSERT INTO rag.rag_chunks (project_id, source_type, external_id,"
            " chunk_index, text, token_count, content_hash, embedding,"
            " embedding_model, embedding_dim, embedding_status)"
            " SELECT $1, 'linear_issue', 'doc-' || i, 0, 'text ' || i, 2, 'h' || i,"
            " v, $3, $4, 'ready'"
            " FROM unnest($2::vector[]) WITH ORDINALITY AS u(v, n),"
            " LATERAL (SELECT n - 1 AS i) AS position",
            project,
            [Vector(np.asarray(v, dtype=np.float32)) for v in vectors],
            model,
            DIM,
        )
        await conn.execute("ANALYZE rag.rag_chunks")


async def _plan(pool: asyncpg.Pool, model: str) -> str:
    query = np.ones(DIM, dtype=np.float32)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        rows = await conn.fetch(
            "EXPLAIN " + repository.vector_search_sql(DIM, model),
            uuid.UUID(PROJECT),
            query,
            model,
            [],
            10,
        )
    return "\n".join(row[0] for row in rows)


def _matryoshka_vectors(rng: np.random.Generator, count: int) -> np.ndarray:
    """Clustered unit vectors whose leading components carry most variance.

    text-embedding-3 models are trained so that a prefix of the vector is a
    usable embedding on its own; this decaying scale imitates that property.
    """
    scale = 1 / np.sqrt(1 + np.arange(DIM) / 64)
    centers = rng.normal(size=(40, DIM)) * scale
    labels = rng.integers(0, len(centers), count)
    rows = centers[labels] + 0.7 * rng.normal(size=(count, DIM)) * scale
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


async def test_text_embedding_3_search_uses_prefix_index(
    rag_pool: asyncpg.Pool,
) -> None:
    plan = await _plan(rag_pool, MATRYOSHKA_MODEL)

    assert "rag_chunks_hnsw_1536_prefix512" in plan


async def test_legacy_model_search_uses_full_index(rag_pool: asyncpg.Pool) -> None:
    plan = await _plan(rag_pool, LEGACY_MODEL)

    assert "rag_chunks_hnsw_1536_full" in plan


async def test_prefix_index_recall_matches_exact(rag_pool: asyncpg.Pool) -> None:
    rng = np.random.default_rng(5)
    vectors = _matryoshka_vectors(rng, 3000)
    await _insert(rag_pool, MATRYOSHKA_MODEL, vectors)
    queries = _matryoshka_vectors(rng, 20)

    recalls = []
    for query in queries:
        exact = {f"text {i}" for i in np.argsort(-(vectors @ query))[:LIMIT]}
        async with rag_pool.acquire() as conn, conn.transaction():
            hits = await repository.vector_search(
                conn,
                PROJECT,
                query,
                model=MATRYOSHKA_MODEL,
                dimension=DIM,
                limit=LIMIT,
                source_types=[],
                ef_search=100,
            )
        assert len(hits) == LIMIT
        recalls.append(len({hit.text for hit in hits} & exact) / LIMIT)

    assert np.mean(recalls) >= 0.95


async def test_prefix_search_orders_by_full_vector(rag_pool: asyncpg.Pool) -> None:
    # Both stored vectors equal the query in their first 512 components, so
    # only the remaining components tell which one is closer.
    query = np.zeros(DIM)
    query[0] = 1.0
    query[600] = 1.0
    closer = query.copy()
    closer[700] = 0.2
    farther = query.copy()
    farther[600] = -1.0
    await _insert(rag_pool, MATRYOSHKA_MODEL, np.stack([farther, closer]))

    async with rag_pool.acquire() as conn, conn.transaction():
        hits = await repository.vector_search(
            conn,
            PROJECT,
            query,
            model=MATRYOSHKA_MODEL,
            dimension=DIM,
            limit=2,
            source_types=[],
            ef_search=100,
        )

    assert [hit.text for hit in hits] == ["text 1", "text 0"]
    assert hits[0].score > hits[1].score
