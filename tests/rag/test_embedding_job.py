"""The embeddings job and degraded queries against the fake OpenAI API."""

from collections.abc import Iterator

import asyncpg
import pytest

from fakes.openai.app import Faults, create_app
from fakes.openai.server import serve_in_thread
from services.common.internal_auth import Principal
from services.rag import repository
from services.rag.chunking import Chunk
from services.rag.embedding import OpenAIProvider
from services.rag.embedding_job import EmbeddingJob, EmbeddingPolicy
from services.rag.query import QueryService
from services.rag.retrieval import HybridSearch, SearchRequest
from tests.rag.conftest import PROJECT

KEY = "sk-test"


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def provider(faults: Faults) -> Iterator[OpenAIProvider]:
    with serve_in_thread(create_app(api_key=KEY, dimension=1536, faults=faults)) as url:
        yield OpenAIProvider(KEY, f"{url}/v1", max_retries=0, timeout_seconds=5)


async def _add_document(pool: asyncpg.Pool, texts: list[str]) -> None:
    chunks = [
        Chunk(
            index=i,
            text=text,
            token_count=len(text),
            content_hash=f"h{i}",
            first_section_id=str(i),
            last_section_id=str(i),
        )
        for i, text in enumerate(texts)
    ]
    async with pool.acquire() as conn:
        await repository.replace_chunks(
            conn, PROJECT, "chatwoot_conversation", "7", chunks
        )
        await repository.upsert_document(
            conn,
            PROJECT,
            source_type="chatwoot_conversation",
            external_id="7",
            title="Conversation #7",
            url="",
            updated_at=None,
            sequence=1,
            chunk_count=len(chunks),
            deleted=False,
        )


def _job(
    pool: asyncpg.Pool, provider: OpenAIProvider, max_attempts: int = 2
) -> EmbeddingJob:
    policy = EmbeddingPolicy(
        batch_size=8,
        max_attempts=max_attempts,
        retry_seconds=0,
        claim_stale_seconds=600,
    )
    return EmbeddingJob(pool, provider, policy)


async def test_pending_chunks_become_ready(rag_pool, provider) -> None:
    await _add_document(rag_pool, ["Клиент просит возврат", "ENG-12 закрыта"])

    counts = await _job(rag_pool, provider).run(PROJECT)
    async with rag_pool.acquire() as conn:
        status = await repository.chunk_status_counts(conn, PROJECT)
        dims = await conn.fetchval(
            "SELECT array_agg(DISTINCT embedding_dim) FROM rag.rag_chunks"
        )

    assert counts.embedded == 2
    assert status["ready"] == 2
    assert dims == [1536]


async def test_failing_chunks_stop_after_max_attempts(
    rag_pool, provider, faults
) -> None:
    await _add_document(rag_pool, ["Клиент просит возврат"])
    faults.down = True
    job = _job(rag_pool, provider, max_attempts=2)

    first = await job.run(PROJECT)
    second = await job.run(PROJECT)
    third = await job.run(PROJECT)
    async with rag_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT embedding_status, attempts, last_error FROM rag.rag_chunks"
        )

    assert (first.retried, first.failed) == (1, 0)
    assert (second.retried, second.failed) == (0, 1)
    assert third.batches == 0
    assert row["embedding_status"] == "failed"
    assert row["attempts"] == 2
    assert "gave up after 2 attempts" in row["last_error"]


async def test_query_falls_back_to_fulltext_when_provider_down(
    rag_pool, provider, faults
) -> None:
    await _add_document(rag_pool, ["Клиент просит вернуть оплату за подписку"])
    faults.down = True
    search = HybridSearch(rag_pool, provider, candidates=10, ef_search=40)
    caller = Principal(
        subject="u1", kind="user", role="member", project_id=PROJECT, request_id="r1"
    )

    outcome = await QueryService(rag_pool, search, None, 50).answer(
        caller, SearchRequest(question="вернуть оплату", limit=5)
    )
    async with rag_pool.acquire() as conn:
        run = await conn.fetchrow("SELECT status, error FROM rag.lightrag_query_runs")

    assert outcome.result.vector_available is False
    assert outcome.result.vector_unavailable_reason
    assert [item.external_id for item in outcome.evidence] == ["7"]
    assert "[1]" in outcome.answer.text
    assert run["status"] == "degraded"


async def test_failed_query_is_recorded(rag_pool, provider) -> None:
    search = HybridSearch(rag_pool, provider, candidates=10, ef_search=40)
    caller = Principal(
        subject="u1", kind="user", role="member", project_id=PROJECT, request_id="r2"
    )

    with pytest.raises(Exception, match="question must not be empty"):
        await QueryService(rag_pool, search, None, 50).answer(
            caller, SearchRequest(question="  ", limit=5)
        )
    async with rag_pool.acquire() as conn:
        run = await conn.fetchrow(
            "SELECT status, error_code FROM rag.lightrag_query_runs"
        )

    assert run["status"] == "failed"
    assert run["error_code"] == "invalid_query"


async def test_question_with_nul_is_answered(rag_pool, provider) -> None:
    await _add_document(rag_pool, ["Клиент просит вернуть оплату за подписку"])
    await _job(rag_pool, provider).run(PROJECT)
    search = HybridSearch(rag_pool, provider, candidates=10, ef_search=40)
    caller = Principal(
        subject="u1", kind="user", role="member", project_id=PROJECT, request_id="r3"
    )

    outcome = await QueryService(rag_pool, search, None, 50).answer(
        caller, SearchRequest(question="вернуть\u0000 оплату", limit=5)
    )
    async with rag_pool.acquire() as conn:
        run = await conn.fetchrow(
            "SELECT status, question FROM rag.lightrag_query_runs"
        )

    assert [item.external_id for item in outcome.evidence] == ["7"]
    assert run["status"] == "ok"
    assert run["question"] == "вернуть оплату"
