"""Both retrieval legs on a real Postgres with pgvector."""

import uuid

import asyncpg
import numpy as np

from services.rag import bm25, repository
from tests.rag.conftest import OTHER_PROJECT, PROJECT

DIM = 384


async def _insert_chunks(
    pool: asyncpg.Pool,
    project: str,
    source_type: str,
    texts: list[str],
    vectors: np.ndarray,
) -> None:
    async with pool.acquire() as conn:
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
            external_id = f"{source_type}-{i}"
            await conn.execute(
                "INSERT INTO rag.rag_documents (project_id, source_type, external_id,"
                " title,"
                " indexed_sequence, chunk_count) VALUES ($1, $2, $3, $4, 1, 1)",
                uuid.UUID(project),
                source_type,
                external_id,
                f"Document {external_id}",
            )
            await conn.execute(
                "INSERT INTO rag.rag_chunks (project_id, source_type, external_id,"
                " chunk_index,"
                " text, token_count, content_hash, embedding, embedding_model,"
                " embedding_dim,"
                " embedding_status) VALUES ($1, $2, $3, 0, $4, 10, $5, $6,"
                " 'test-model', $7,"
                " 'ready')",
                uuid.UUID(project),
                source_type,
                external_id,
                text,
                f"h{i}",
                vector,
                DIM,
            )
        await bm25.rebuild(conn, uuid.UUID(project))


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


async def test_filtered_vector_search_returns_full_limit(
    rag_pool: asyncpg.Pool,
) -> None:
    # 1,990 linear chunks sit next to the query; the 10 chatwoot chunks are far
    # away, so a plain HNSW scan (ef_search 40) followed by the filter finds none.
    rng = np.random.default_rng(1)
    query = _unit(rng.normal(size=(1, DIM)))[0]
    near = _unit(query + 0.05 * rng.normal(size=(1990, DIM)))
    far = _unit(-query + 0.3 * rng.normal(size=(10, DIM)))
    await _insert_chunks(rag_pool, PROJECT, "linear_issue", ["ENG issue"] * 1990, near)
    chatwoot_texts = [f"возврат оплаты по заказу {1042 + i}" for i in range(10)]
    await _insert_chunks(
        rag_pool, PROJECT, "chatwoot_conversation", chatwoot_texts, far
    )

    async with rag_pool.acquire() as conn, conn.transaction():
        hits = await repository.vector_search(
            conn,
            PROJECT,
            query,
            model="test-model",
            dimension=DIM,
            limit=10,
            source_types=["chatwoot_conversation"],
            ef_search=40,
        )

    assert len(hits) == 10
    assert {hit.source_type for hit in hits} == {"chatwoot_conversation"}
    assert [hit.score for hit in hits] == sorted(
        (hit.score for hit in hits), reverse=True
    )


async def test_vector_search_stays_in_project(rag_pool: asyncpg.Pool) -> None:
    rng = np.random.default_rng(2)
    vectors = _unit(rng.normal(size=(5, DIM)))
    await _insert_chunks(rag_pool, PROJECT, "chatwoot_conversation", ["a"] * 5, vectors)
    await _insert_chunks(
        rag_pool, OTHER_PROJECT, "chatwoot_conversation", ["b"] * 5, vectors
    )

    async with rag_pool.acquire() as conn, conn.transaction():
        hits = await repository.vector_search(
            conn,
            PROJECT,
            vectors[0],
            model="test-model",
            dimension=DIM,
            limit=10,
            source_types=[],
            ef_search=40,
        )

    assert len(hits) == 5
    assert {hit.text for hit in hits} == {"a"}


async def test_russian_fulltext_ignores_server_default(rag_pool: asyncpg.Pool) -> None:
    vectors = _unit(np.ones((2, DIM)))
    texts = ["Клиент просит вернуть оплату за подписку", "Счёт выставлен"]
    await _insert_chunks(rag_pool, PROJECT, "chatwoot_conversation", texts, vectors)

    async with rag_pool.acquire() as conn:
        await conn.execute("SET default_text_search_config = 'pg_catalog.english'")
        found = {
            question: [
                hit.text
                for hit in await repository.fulltext_search(
                    conn, PROJECT, question, limit=5, source_types=[]
                )
            ]
            for question in ("оплата подписки", "вернуть оплату", "счет")
        }

    assert found["оплата подписки"] == [texts[0]]
    assert found["вернуть оплату"] == [texts[0]]
    assert found["счет"] == [texts[1]]


async def test_fulltext_matches_english_questions(rag_pool: asyncpg.Pool) -> None:
    vectors = _unit(np.ones((2, DIM)))
    texts = ["I want to transfer money from checking to savings", "My parcel is late"]
    await _insert_chunks(rag_pool, PROJECT, "chatwoot_conversation", texts, vectors)

    async with rag_pool.acquire() as conn:
        hits = await repository.fulltext_search(
            conn,
            PROJECT,
            "How do I make transfers between my accounts?",
            limit=5,
            source_types=[],
        )

    assert [hit.text for hit in hits] == [texts[0]]


async def test_fulltext_ranks_rare_word_first(rag_pool: asyncpg.Pool) -> None:
    # "order" is in four chunks and "refund" in one. Ranking without inverse
    # document frequency puts the chunk that repeats "order" first.
    texts = [
        "order order order order",
        "refund policy",
        "order shipped",
        "order delayed",
        "order cancelled",
    ]
    vectors = _unit(np.ones((len(texts), DIM)))
    await _insert_chunks(rag_pool, PROJECT, "chatwoot_conversation", texts, vectors)

    async with rag_pool.acquire() as conn:
        hits = await repository.fulltext_search(
            conn, PROJECT, "order refund", limit=5, source_types=[]
        )

    assert hits[0].text == "refund policy"
    assert len(hits) == len(texts)
    assert [hit.score for hit in hits] == sorted(
        (hit.score for hit in hits), reverse=True
    )


async def test_ties_ordered_by_record(
    rag_pool: asyncpg.Pool,
) -> None:
    # Identical chunks score alike in both legs. Their order follows the
    # record, not the random chunk id, so one data set ranks the same after
    # every rebuild of the index.
    texts = ["How do I cancel my order?"] * 8
    vectors = _unit(np.ones((len(texts), DIM)))
    await _insert_chunks(rag_pool, PROJECT, "chatwoot_conversation", texts, vectors)
    expected = [f"chatwoot_conversation-{i}" for i in range(len(texts))]

    async with rag_pool.acquire() as conn, conn.transaction():
        fulltext = await repository.fulltext_search(
            conn, PROJECT, "cancel order", limit=10, source_types=[]
        )
        vector = await repository.vector_search(
            conn,
            PROJECT,
            vectors[0],
            model="test-model",
            dimension=DIM,
            limit=10,
            source_types=[],
            ef_search=100,
        )

    assert [hit.external_id for hit in fulltext] == expected
    assert [hit.external_id for hit in vector] == expected
