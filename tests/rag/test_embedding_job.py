"""The embeddings job and degraded queries against the fake OpenAI API."""

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from fakes.openai.app import Faults, create_app
from fakes.openai.server import serve_in_thread
from services.common.internal_auth import Principal
from services.rag import repository
from services.rag.chunking import Chunk, Utf8ByteBound
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


class _GatedProvider:
    """Deterministic embedder that blocks each call until `expected` are in flight."""

    model = "gated"
    dimension = 3
    max_batch_size = 8

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.in_flight = 0
        self.max_in_flight = 0
        self._all_in_flight = asyncio.Event()

    @property
    def tokenizer(self):
        return Utf8ByteBound()

    async def embed_passages(self, texts):
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.in_flight >= self.expected:
            self._all_in_flight.set()
        try:
            await asyncio.wait_for(self._all_in_flight.wait(), timeout=10)
        except TimeoutError:
            # Release the others too, so a job that never reaches the expected
            # concurrency ends and the assertion reports it.
            self._all_in_flight.set()
        self.in_flight -= 1
        return [[1.0, 0.0, 0.0] for _ in texts]

    async def embed_query(self, text):
        return [1.0, 0.0, 0.0]


async def test_job_keeps_batches_in_flight_at_once(rag_pool) -> None:
    await _add_document(rag_pool, [f"text {i}" for i in range(6)])
    provider = _GatedProvider(expected=3)
    policy = EmbeddingPolicy(
        batch_size=2,
        max_attempts=3,
        retry_seconds=0,
        claim_stale_seconds=600,
        concurrency=3,
    )

    counts = await EmbeddingJob(rag_pool, provider, policy).run(PROJECT)

    assert provider.max_in_flight == 3
    assert counts.embedded == 6
    assert counts.batches == 3


async def test_concurrent_job_respects_max_chunks(rag_pool, provider) -> None:
    await _add_document(rag_pool, [f"text {i}" for i in range(10)])
    policy = EmbeddingPolicy(
        batch_size=2,
        max_attempts=3,
        retry_seconds=0,
        claim_stale_seconds=600,
        concurrency=4,
    )

    counts = await EmbeddingJob(rag_pool, provider, policy).run(PROJECT, max_chunks=5)

    assert counts.embedded == 5
    assert counts.remaining_pending == 5


async def test_store_embeddings_skips_chunks_of_other_worker(rag_pool) -> None:
    await _add_document(rag_pool, ["first", "second"])
    async with rag_pool.acquire() as conn:
        mine = await repository.claim_pending(
            conn, PROJECT, limit=1, worker="me", stale_after_seconds=600
        )
        theirs = await repository.claim_pending(
            conn, PROJECT, limit=1, worker="other", stale_after_seconds=600
        )
        written = await repository.store_embeddings(
            conn,
            [mine[0].id, theirs[0].id],
            [[0.1] * 1536, [0.2] * 1536],
            model="m",
            dimension=1536,
            worker="me",
        )
        statuses = dict(
            await conn.fetch("SELECT id, embedding_status FROM rag.rag_chunks")
        )

    assert written == 1
    assert statuses[mine[0].id] == "ready"
    assert statuses[theirs[0].id] == "processing"


async def test_claim_uses_due_index(rag_pool) -> None:
    # With most chunks pending, as in a first index or a backfill, the claim
    # must walk the due chunks in order and stop at its limit, not sort
    # every pending chunk of the project for each batch.
    await _add_document(rag_pool, [f"text {i}" for i in range(2000)])
    async with rag_pool.acquire() as conn:
        await conn.execute("ANALYZE rag.rag_chunks")
        plan = "\n".join(
            row[0]
            for row in await conn.fetch(
                "EXPLAIN " + repository.CLAIM_DUE_CHUNKS,
                uuid.UUID(PROJECT),
                "me",
                256,
                600.0,
            )
        )

    assert "rag_chunks_due" in plan
    assert "Sort" not in plan


async def test_store_forces_custom_plan(rag_pool) -> None:
    # A generic plan of the store joined the batch's arrays in a nested loop
    # against every claimed chunk (70 ms instead of 2.5 ms for 256 chunks),
    # so the store is planned for each batch.
    await _add_document(rag_pool, ["first"])
    async with rag_pool.acquire() as conn, conn.transaction():
        claimed = await repository.claim_pending(
            conn, PROJECT, limit=1, worker="me", stale_after_seconds=600
        )
        await repository.store_embeddings(
            conn,
            [claimed[0].id],
            [[0.1] * 1536],
            model="m",
            dimension=1536,
            worker="me",
        )
        mode = await conn.fetchval("SELECT current_setting('plan_cache_mode')")

    assert mode == "force_custom_plan"
