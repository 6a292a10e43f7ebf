"""A query checks its sources with the real connectors service before citing them.

The connectors servicer runs in this process on 127.0.0.1 over the same test
database as the rag schema. Queries use full-text search only, so no
embedding provider is called.
"""

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest
from structlog.testing import capture_logs

from gen.connectors.v1 import connectors_pb2 as pb
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.grpc_client import create_channel
from services.common.grpc_server import create_server
from services.common.internal_auth import Principal
from services.common.migrations import apply_migrations
from services.rag import repository
from services.rag.chunking import Chunk
from services.rag.embedding import OpenAIProvider
from services.rag.evidence_client import EvidenceClient
from services.rag.query import QueryOutcome, QueryService
from services.rag.retrieval import HybridSearch, SearchRequest
from tests.connectors.conftest import CONNECTORS_MIGRATIONS
from tests.connectors.server import (
    CHATWOOT_URL,
    MAX_MESSAGE_BYTES,
    save_conversation,
    save_document,
    serve_connectors,
)
from tests.rag.conftest import PROJECT

SECRET = "test-internal-token-secret-of-32-bytes-or-more"
QUESTION = "Почему клиенту дважды списали оплату?"
CALLER = Principal(
    subject="u1", kind="user", role="member", project_id=PROJECT, request_id="r1"
)
# Ranked for QUESTION: the conversation matches most words, so it comes first.
DOCUMENTS = {
    ("chatwoot_conversation", "41"): (
        "Клиенту дважды списали оплату за заказ. Возврат второго платежа оформлен."
    ),
    ("linear_issue", "ENG-7"): "Повторное списание оплаты после таймаута шлюза.",
    ("attio_deal", "deal-3"): "Клиент обсуждает оплату тарифа Pro.",
}
TOP_SOURCE = ("chatwoot_conversation", "41")


@pytest.fixture
async def connectors_pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the rag test database, which also gets the connectors schema."""
    conn = await asyncpg.connect(database_dsn)
    try:
        await apply_migrations(conn, "connectors", CONNECTORS_MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(database_dsn, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def indexed(rag_pool: asyncpg.Pool) -> None:
    """Index DOCUMENTS in the rag schema under stale titles."""
    async with rag_pool.acquire() as conn:
        for (source_type, external_id), text in DOCUMENTS.items():
            await repository.upsert_document(
                conn,
                PROJECT,
                source_type=source_type,
                external_id=external_id,
                title=f"indexed title of {external_id}",
                url="",
                updated_at=None,
                sequence=1,
                chunk_count=1,
                deleted=False,
            )
            chunk = Chunk(
                index=0,
                text=text,
                token_count=len(text.split()),
                content_hash=f"hash-{external_id}",
                first_section_id="s1",
                last_section_id="s1",
            )
            await repository.replace_chunks(
                conn, PROJECT, source_type, external_id, [chunk]
            )


@pytest.fixture
async def connectors_address(connectors_pool: asyncpg.Pool) -> AsyncIterator[str]:
    async with serve_connectors(connectors_pool, SECRET) as address:
        yield address


def _search(pool: asyncpg.Pool) -> HybridSearch:
    # Full-text queries never call the provider, so its address is never used.
    provider = OpenAIProvider("sk-unused", "http://127.0.0.1:9/v1", max_retries=0)
    return HybridSearch(pool, provider, candidates=10, ef_search=40)


async def _ask(
    pool: asyncpg.Pool, address: str | None, limit: int, deadline: float = 5.0
) -> QueryOutcome:
    """Run QUESTION through a QueryService that checks sources at address."""
    request = SearchRequest(question=QUESTION, limit=limit, mode="fulltext")
    if address is None:
        return await QueryService(pool, _search(pool), None, 50).answer(CALLER, request)
    channel = create_channel(address, MAX_MESSAGE_BYTES)
    try:
        evidence = EvidenceClient(channel, SECRET, deadline)
        queries = QueryService(pool, _search(pool), None, 50, evidence=evidence)
        return await queries.answer(CALLER, request)
    finally:
        await channel.close()


def _sources(outcome: QueryOutcome) -> list[tuple[str, str]]:
    return [(item.source_type, item.external_id) for item in outcome.evidence]


async def _save_all(pool: asyncpg.Pool, *, deleted_top: bool) -> None:
    await save_conversation(pool, PROJECT, 41, "Anna Petrova", deleted=deleted_top)
    await save_document(pool, PROJECT, "linear_issue", "ENG-7", "Double charge")
    await save_document(pool, PROJECT, "attio_deal", "deal-3", "Pro plan")


@pytest.mark.usefixtures("indexed")
async def test_deleted_top_source_is_not_cited(
    rag_pool: asyncpg.Pool, connectors_pool: asyncpg.Pool, connectors_address: str
) -> None:
    await _save_all(connectors_pool, deleted_top=True)

    unchecked = await _ask(rag_pool, None, limit=2)
    checked = await _ask(rag_pool, connectors_address, limit=2)

    assert _sources(unchecked)[0] == TOP_SOURCE
    assert checked.evidence_checked
    assert TOP_SOURCE not in _sources(checked)
    # The source ranked third takes the free place.
    assert sorted(_sources(checked)) == [
        ("attio_deal", "deal-3"),
        ("linear_issue", "ENG-7"),
    ]
    assert [item.number for item in checked.evidence] == [1, 2]
    assert [s.hit.external_id for s in checked.result.sources] == [
        item.external_id for item in checked.evidence
    ]
    assert "[1]" in checked.answer.text
    assert "Anna" not in checked.answer.text


@pytest.mark.usefixtures("indexed")
async def test_titles_follow_connectors(
    rag_pool: asyncpg.Pool, connectors_pool: asyncpg.Pool, connectors_address: str
) -> None:
    await _save_all(connectors_pool, deleted_top=False)

    outcome = await _ask(rag_pool, connectors_address, limit=3)

    titles = {(i.source_type, i.external_id): i.title for i in outcome.evidence}
    urls = {
        (s.hit.source_type, s.hit.external_id): s.hit.url
        for s in outcome.result.sources
    }
    assert outcome.evidence_checked
    assert _sources(outcome)[0] == TOP_SOURCE
    assert titles == {
        TOP_SOURCE: "Conversation #41 with Anna Petrova (open)",
        ("linear_issue", "ENG-7"): "Double charge",
        ("attio_deal", "deal-3"): "Pro plan",
    }
    assert urls[TOP_SOURCE] == f"{CHATWOOT_URL}/app/accounts/1/conversations/41"
    assert urls[("linear_issue", "ENG-7")] == (
        "http://127.0.0.1:3002/linear_issue/ENG-7"
    )


@pytest.mark.usefixtures("indexed")
async def test_source_unknown_to_connectors_keeps_indexed_title(
    rag_pool: asyncpg.Pool, connectors_pool: asyncpg.Pool, connectors_address: str
) -> None:
    await save_document(connectors_pool, PROJECT, "linear_issue", "ENG-7", "Charge")

    outcome = await _ask(rag_pool, connectors_address, limit=3)

    titles = {i.external_id: i.title for i in outcome.evidence}
    assert outcome.evidence_checked
    assert titles == {
        "41": "indexed title of 41",
        "ENG-7": "Charge",
        "deal-3": "indexed title of deal-3",
    }


@pytest.mark.usefixtures("indexed")
async def test_query_answers_with_connectors_down(rag_pool: asyncpg.Pool) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    with capture_logs() as logs:
        outcome = await _ask(rag_pool, f"127.0.0.1:{closed_port}", limit=2)

    failures = [e for e in logs if e["event"] == "query.evidence_check_failed"]
    assert not outcome.evidence_checked
    assert _sources(outcome)[0] == TOP_SOURCE
    assert len(outcome.evidence) == 2
    assert outcome.evidence[0].title == "indexed title of 41"
    assert "[1]" in outcome.answer.text
    assert len(failures) == 1
    assert failures[0]["log_level"] == "warning"
    assert failures[0]["code"] == "UNAVAILABLE"


class _SlowConnectors(connectors_pb2_grpc.ConnectorsServiceServicer):
    async def GetDocuments(  # noqa: N802
        self, request: pb.GetDocumentsRequest, context: Any
    ) -> pb.GetDocumentsResponse:
        await asyncio.sleep(2)
        return pb.GetDocumentsResponse()


@pytest.mark.usefixtures("indexed")
async def test_query_answers_when_check_times_out(rag_pool: asyncpg.Pool) -> None:
    server = create_server(SECRET, MAX_MESSAGE_BYTES)
    connectors_pb2_grpc.add_ConnectorsServiceServicer_to_server(
        _SlowConnectors(), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        with capture_logs() as logs:
            outcome = await _ask(rag_pool, f"127.0.0.1:{port}", limit=2, deadline=0.2)
    finally:
        await server.stop(None)

    failures = [e for e in logs if e["event"] == "query.evidence_check_failed"]
    assert not outcome.evidence_checked
    assert _sources(outcome)[0] == TOP_SOURCE
    assert len(outcome.evidence) == 2
    assert len(failures) == 1
    assert failures[0]["code"] == grpc.StatusCode.DEADLINE_EXCEEDED.name
