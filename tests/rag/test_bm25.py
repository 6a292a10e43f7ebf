"""Term statistics kept by chunk writes, and the full-text leg that ranks by them."""

import hashlib
import uuid

import asyncpg

from services.rag import bm25, repository
from services.rag.chunking import Chunk
from tests.rag.conftest import PROJECT


def _chunks(*texts: str) -> list[Chunk]:
    return [
        Chunk(
            i,
            text,
            len(text.split()),
            hashlib.sha256(text.encode()).hexdigest(),
            "s",
            "s",
        )
        for i, text in enumerate(texts)
    ]


async def _write(conn: asyncpg.Connection, key: str, *texts: str) -> None:
    await repository.upsert_document(
        conn,
        PROJECT,
        source_type="linear_issue",
        external_id=key,
        title=key,
        url="",
        updated_at=None,
        sequence=1,
        chunk_count=len(texts),
        deleted=False,
    )
    await repository.replace_chunks(conn, PROJECT, "linear_issue", key, _chunks(*texts))


async def _stats(conn: asyncpg.Connection) -> tuple[dict[str, int], tuple[int, int]]:
    terms = await conn.fetch(
        "SELECT lexeme, chunks FROM rag.term_stats WHERE project_id = $1"
        " AND chunks <> 0",
        uuid.UUID(PROJECT),
    )
    corpus = await conn.fetch(
        "SELECT chunks, tokens FROM rag.corpus_stats WHERE project_id = $1",
        uuid.UUID(PROJECT),
    )
    totals = (int(corpus[0]["chunks"]), int(corpus[0]["tokens"])) if corpus else (0, 0)
    return {row["lexeme"]: row["chunks"] for row in terms}, totals


async def test_chunk_writes_keep_statistics_exact(rag_pool: asyncpg.Pool) -> None:
    async with rag_pool.acquire() as conn:
        await _write(conn, "a", "refund the order", "order shipped late")
        await _write(conn, "b", "invoice for the order")
        await _write(conn, "a", "refund the invoice")
        await _write(conn, "b")
        maintained = await _stats(conn)
        await bm25.rebuild(conn, uuid.UUID(PROJECT))
        rebuilt = await _stats(conn)

    assert maintained == rebuilt
    assert maintained[0] == {"refund": 1, "invoic": 1}
    assert maintained[1] == (1, 3)


async def test_dash_in_question_does_not_negate(rag_pool: asyncpg.Pool) -> None:
    async with rag_pool.acquire() as conn:
        await _write(conn, "train", "Поезд TR9202 отправляется в 10:15")
        await _write(conn, "other", "Совсем другой разговор")
        hits = await repository.fulltext_search(
            conn, PROJECT, "поезда - TR9202", limit=5, source_types=[]
        )

    assert [hit.external_id for hit in hits] == ["train"]


async def test_operators_in_question_are_words(rag_pool: asyncpg.Pool) -> None:
    async with rag_pool.acquire() as conn:
        await _write(conn, "quote", "it's the o'brien account")
        hits = await repository.fulltext_search(
            conn, PROJECT, "o'brien & (account | !x) <-> \\", limit=5, source_types=[]
        )

    assert [hit.external_id for hit in hits] == ["quote"]


def test_candidates_are_the_rarest_words_within_budget() -> None:
    found = [("rare", 3), ("middle", 900), ("common", 5000)]
    assert bm25.candidate_words(found) == ["rare", "middle"]
    assert bm25.candidate_words([("common", 5000)]) == ["common"]
    assert bm25.candidate_words([]) == []


def test_rare_words_weigh_more() -> None:
    assert bm25.idf(1, 1000) > bm25.idf(100, 1000) > bm25.idf(900, 1000) > 0
