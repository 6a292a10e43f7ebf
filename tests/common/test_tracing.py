"""Traces stay whole from the gateway through gRPC to Postgres and worker threads.

The gateway app, the auth, RAG and connectors gRPC servers and a fake OpenAI
API run in this process on 127.0.0.1, against a real Postgres. Spans go to an in-memory
exporter and log lines to a buffer, so one query can be followed end to end.
"""

import asyncio
import hashlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
import structlog
from openai import AsyncOpenAI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind
from pgvector.asyncpg import register_vector

from fakes.openai import Faults, create_app, serve_in_thread
from gateway.app import create_app as create_gateway_app
from gateway.clients import connect
from gateway.settings import GatewaySettings
from gen.auth.v1 import auth_pb2_grpc
from gen.rag.v1 import rag_pb2_grpc
from services.auth.bootstrap import bootstrap_owner
from services.auth.grpc_api import AuthServicer
from services.auth.sessions import SessionConfig
from services.common.grpc_client import create_channel
from services.common.grpc_server import create_server
from services.common.logging import configure_logging
from services.common.migrations import apply_migrations
from services.common.scheduler import JobRow, Progress, Scheduler
from services.common.telemetry import (
    configure_tracing,
    current_trace_id,
    otlp_exporter_from_environment,
)
from services.rag import repository
from services.rag.chunking import Chunk
from services.rag.embedding import LocalE5Provider
from services.rag.embedding_job import EmbeddingJob, EmbeddingPolicy
from services.rag.evidence_client import EvidenceClient
from services.rag.feed_client import FeedClient
from services.rag.grpc_api import RagServicer
from services.rag.indexing import ChunkSizes, Indexer
from services.rag.query import LlmAnswers, QueryService
from services.rag.retrieval import HybridSearch
from tests.connectors.server import save_document, serve_connectors

SERVICES = Path(__file__).resolve().parents[2] / "services"
SECRET = "test-internal-token-secret-of-32-bytes-or-more"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
OPENAI_KEY = "sk-test-tracing"
OWNER = "owner"
OWNER_PASSWORD = "owner-password-for-tracing"

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
QUESTION = "Почему клиенту дважды списали оплату?"
RAG_QUERY_METHOD = "/rag.v1.RagService/Query"
GET_DOCUMENTS_METHOD = "/connectors.v1.ConnectorsService/GetDocuments"
GATEWAY_URL = "http://gateway.test"
DOCUMENTS = {
    ("chatwoot_conversation", "cw-1042"): (
        "Клиенту дважды списали оплату за заказ 1042. Возврат второго платежа"
        " оформлен в тот же день."
    ),
    ("linear_issue", "ENG-77"): (
        "Повторное списание оплаты: платёжный шлюз повторил запрос после таймаута."
    ),
    ("attio_deal", "deal-5"): "Переход клиента на тариф Pro запланирован на июль.",
}


@dataclass
class SpanRecorder:
    """The process's tracer provider and the in-memory exporter attached to it."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    def clear(self) -> None:
        self.provider.force_flush()
        self.exporter.clear()

    def finished(self) -> list[ReadableSpan]:
        self.provider.force_flush()
        return list(self.exporter.get_finished_spans())


@dataclass
class Stack:
    client: httpx.AsyncClient
    rag_pool: asyncpg.Pool


JOB_PROJECT = "00000000-0000-0000-0000-0000000000d9"


@pytest.fixture(scope="module")
def recorder() -> Iterator[SpanRecorder]:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("opsdesk-tests", exporter=exporter)
    yield SpanRecorder(provider, exporter)
    provider.force_flush()
    # Later tests of this process still create spans, and a stopped exporter
    # drops them.
    exporter.shutdown()


@pytest.fixture
def spans(recorder: SpanRecorder) -> SpanRecorder:
    recorder.clear()
    return recorder


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    """JSON log lines of this test, written the way the services write them."""
    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    saved_level = root.level
    buffer = io.StringIO()
    configure_logging("opsdesk-tests", log_format="json", stream=buffer)
    # Cached loggers would keep this test's processors in later tests.
    structlog.configure(cache_logger_on_first_use=False)
    test_handler = root.handlers[0]
    yield buffer
    structlog.reset_defaults()
    root.removeHandler(test_handler)
    for handler in saved_handlers:
        # pytest removes its own capture handlers when each test phase ends.
        if not type(handler).__module__.startswith("_pytest"):
            root.addHandler(handler)
    root.setLevel(saved_level)


@pytest.fixture(scope="module")
def e5() -> LocalE5Provider:
    return LocalE5Provider()


@pytest.fixture
def failing_llm_url() -> Iterator[str]:
    """Base URL of a fake OpenAI API whose chat endpoint returns 503."""
    with serve_in_thread(
        create_app(api_key=OPENAI_KEY, faults=Faults(down=True))
    ) as url:
        yield url


async def _open_pool(dsn: str, schema: str, **options: Any) -> asyncpg.Pool:
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, schema, SERVICES / schema / "migrations")
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, **options)
    assert pool is not None
    return pool


async def _seed_chunks(
    pool: asyncpg.Pool, project_id: str, provider: LocalE5Provider
) -> None:
    async with pool.acquire() as conn:
        for (source_type, external_id), text in DOCUMENTS.items():
            await repository.upsert_document(
                conn,
                project_id,
                source_type=source_type,
                external_id=external_id,
                title=f"{source_type} {external_id}",
                url="",
                updated_at=None,
                sequence=1,
                chunk_count=1,
                deleted=False,
            )
            chunk = Chunk(
                index=0,
                text=text,
                token_count=provider.tokenizer.count(text),
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
                first_section_id="s1",
                last_section_id="s1",
            )
            await repository.replace_chunks(
                conn, project_id, source_type, external_id, [chunk]
            )
    policy = EmbeddingPolicy(
        batch_size=8, max_attempts=3, retry_seconds=30.0, claim_stale_seconds=600.0
    )
    counts = await EmbeddingJob(pool, provider, policy).run(project_id)
    assert counts.embedded == len(DOCUMENTS)


async def _start(server: grpc.aio.Server) -> str:
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return f"127.0.0.1:{port}"


def _rag_servicer(
    pool: asyncpg.Pool, provider: LocalE5Provider, llm_url: str, connectors: str
) -> RagServicer:
    connectors_channel = create_channel(connectors, MAX_MESSAGE_BYTES)
    feed = FeedClient(connectors_channel, SECRET, 5.0)
    indexer = Indexer(pool, feed, provider.tokenizer, ChunkSizes(160, 32), 100)
    policy = EmbeddingPolicy(
        batch_size=8, max_attempts=3, retry_seconds=30.0, claim_stale_seconds=600.0
    )
    search = HybridSearch(pool, provider, candidates=50, ef_search=100)
    llm_client = AsyncOpenAI(
        api_key=OPENAI_KEY, base_url=f"{llm_url}/v1", max_retries=0
    )
    queries = QueryService(
        pool,
        search,
        LlmAnswers(llm_client, "gpt-4o-mini"),
        50,
        evidence=EvidenceClient(connectors_channel, SECRET, 5.0),
    )
    embeddings = EmbeddingJob(pool, provider, policy)
    return RagServicer(pool, indexer, embeddings, queries, provider, 8)


@pytest.fixture
async def stack(
    database_dsn: str, e5: LocalE5Provider, failing_llm_url: str
) -> AsyncIterator[Stack]:
    """A logged-in gateway client with an active project whose chunks are embedded."""
    auth_pool = await _open_pool(database_dsn, "auth")
    rag_pool = await _open_pool(database_dsn, "rag", init=register_vector)
    connectors_pool = await _open_pool(database_dsn, "connectors")
    await bootstrap_owner(auth_pool, OWNER, OWNER_PASSWORD, "Tracing")
    connectors = AsyncExitStack()
    connectors_address = await connectors.enter_async_context(
        serve_connectors(connectors_pool, SECRET)
    )

    auth_server = create_server(SECRET, MAX_MESSAGE_BYTES)
    config = SessionConfig(
        idle_seconds=3600,
        absolute_seconds=86400,
        csrf_secret="test-csrf-secret-of-32-bytes-or-more",
    )
    auth_pb2_grpc.add_AuthServiceServicer_to_server(
        AuthServicer(auth_pool, config), auth_server
    )
    rag_server = create_server(SECRET, MAX_MESSAGE_BYTES)
    rag_pb2_grpc.add_RagServiceServicer_to_server(
        _rag_servicer(rag_pool, e5, failing_llm_url, connectors_address), rag_server
    )
    settings = GatewaySettings(
        auth_address=await _start(auth_server),
        rag_address=await _start(rag_server),
        connectors_address=connectors_address,
        internal_token_secret=SECRET,
    )
    app = create_gateway_app(settings)
    app.state.clients = connect(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=GATEWAY_URL
        ) as client:
            login = await client.post(
                "/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD}
            )
            assert login.status_code == 200, login.text
            client.headers["x-csrf-token"] = login.json()["csrf_token"]
            projects = (await client.get("/projects")).json()["projects"]
            project_id = projects[0]["id"]
            selected = await client.post(f"/projects/{project_id}/select")
            assert selected.status_code == 200, selected.text
            await _seed_chunks(rag_pool, project_id, e5)
            for source_type, external_id in DOCUMENTS:
                if source_type != "chatwoot_conversation":
                    await save_document(
                        connectors_pool,
                        project_id,
                        source_type,
                        external_id,
                        f"{source_type} {external_id}",
                    )
            yield Stack(client, rag_pool)
    finally:
        await app.state.clients.close()
        await rag_server.stop(None)
        await auth_server.stop(None)
        await connectors.aclose()
        await connectors_pool.close()
        await rag_pool.close()
        await auth_pool.close()


def _hex_trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def _only(spans: list[ReadableSpan], description: str) -> ReadableSpan:
    assert len(spans) == 1, f"expected one {description} span, got {len(spans)}"
    return spans[0]


def _statement(span: ReadableSpan) -> str:
    attributes = span.attributes or {}
    return str(attributes.get("db.statement") or attributes.get("db.query.text", ""))


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[int]:
    """Return the span ids above span, nearest first, as far as they were recorded."""
    chain: list[int] = []
    parent = span.parent
    while parent is not None:
        chain.append(parent.span_id)
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return chain


@pytest.mark.parametrize("path", ["/lightrag/query", "/search"])
async def test_query_is_one_trace(
    stack: Stack, spans: SpanRecorder, log_buffer: io.StringIO, path: str
) -> None:
    spans.clear()
    logs_before = log_buffer.tell()

    response = await stack.client.post(
        path, json={"question": QUESTION}, headers={"traceparent": TRACEPARENT}
    )

    log_text = log_buffer.getvalue()[logs_before:]
    recorded = spans.finished()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["evidence"], "the query found no evidence"

    # One trace id across every span of the product. The fake OpenAI API runs
    # in this process too, but the openai client sends no traceparent, so the
    # fake's own spans form a trace of their own and are left out.
    fake_traces = {
        _hex_trace_id(s)
        for s in recorded
        if s.kind is SpanKind.SERVER and s.name == "POST /v1/chat/completions"
    }
    assert TRACE_ID not in fake_traces
    recorded = [s for s in recorded if _hex_trace_id(s) not in fake_traces]
    assert recorded
    assert {_hex_trace_id(s) for s in recorded} == {TRACE_ID}
    by_id = {span.context.span_id: span for span in recorded if span.context}

    # The gateway's server span continues the caller's span.
    gateway = _only(
        [s for s in recorded if s.kind is SpanKind.SERVER and s.name == f"POST {path}"],
        "gateway server",
    )
    assert gateway.parent is not None
    assert gateway.parent.is_remote
    assert format(gateway.parent.span_id, "016x") == PARENT_SPAN_ID

    # The gRPC server span of the RAG call is the child of its client span.
    grpc_client = _only(
        [
            s
            for s in recorded
            if s.kind is SpanKind.CLIENT and s.name == RAG_QUERY_METHOD
        ],
        "gRPC client",
    )
    grpc_server = _only(
        [
            s
            for s in recorded
            if s.kind is SpanKind.SERVER and s.name == RAG_QUERY_METHOD
        ],
        "gRPC server",
    )
    assert grpc_client.context is not None
    assert grpc_server.parent is not None
    assert grpc_server.parent.span_id == grpc_client.context.span_id
    assert gateway.context is not None
    assert gateway.context.span_id in _ancestors(grpc_client, by_id)

    # Exactly one database span for each retrieval leg, below the server span.
    assert grpc_server.context is not None
    vector = _only(
        [s for s in recorded if "<=>" in _statement(s)], "vector query database"
    )
    fulltext = _only(
        [s for s in recorded if "search_tsv @@" in _statement(s)],
        "full-text query database",
    )
    assert vector.kind is SpanKind.CLIENT
    assert fulltext.kind is SpanKind.CLIENT
    assert grpc_server.context.span_id in _ancestors(vector, by_id)
    assert grpc_server.context.span_id in _ancestors(fulltext, by_id)
    run_insert = _only(
        [s for s in recorded if "lightrag_query_runs" in _statement(s)],
        "query run insert",
    )
    assert grpc_server.context.span_id in _ancestors(run_insert, by_id)

    # The RAG service checks its sources with one GetDocuments call, and the
    # connectors service reads them from Postgres inside that call.
    documents_client = _only(
        [
            s
            for s in recorded
            if s.kind is SpanKind.CLIENT and s.name == GET_DOCUMENTS_METHOD
        ],
        "GetDocuments client",
    )
    documents_server = _only(
        [
            s
            for s in recorded
            if s.kind is SpanKind.SERVER and s.name == GET_DOCUMENTS_METHOD
        ],
        "GetDocuments server",
    )
    assert documents_client.context is not None
    assert documents_server.parent is not None
    assert documents_server.parent.span_id == documents_client.context.span_id
    assert grpc_server.context.span_id in _ancestors(documents_client, by_id)
    assert documents_server.context is not None
    documents_reads = [s for s in recorded if "connectors." in _statement(s)]
    assert documents_reads, "GetDocuments made no database span"
    for span in documents_reads:
        assert span.kind is SpanKind.CLIENT
        assert documents_server.context.span_id in _ancestors(span, by_id)

    # The question is embedded in a worker thread, inside the same trace.
    embedding = _only(
        [s for s in recorded if s.name == "embedding.local"], "local embedding"
    )
    assert grpc_server.context.span_id in _ancestors(embedding, by_id)

    # The trace id is returned to the caller and stored with the query run.
    assert response.headers["x-trace-id"] == TRACE_ID
    assert body["trace_id"] == TRACE_ID
    stored = await stack.rag_pool.fetchval(
        "SELECT trace_id FROM rag.lightrag_query_runs WHERE id = $1::uuid",
        body["query_run_id"],
    )
    assert stored == TRACE_ID

    # Every log line of the request names the trace and one of its spans. The
    # test's own HTTP client logs the response after the request has ended,
    # outside any span, so its line is left out.
    lines = [
        json.loads(line)
        for line in log_text.splitlines()
        if line.strip() and GATEWAY_URL not in line
    ]
    events = {line["event"] for line in lines}
    assert "query.answer_fallback" in events
    assert any(line["logger"].startswith("httpx") for line in lines)
    for line in lines:
        assert line.get("trace_id") == TRACE_ID, line
        assert int(line["span_id"], 16) in by_id, line


async def test_prepared_statement_gets_one_span(
    spans: SpanRecorder, database_dsn: str
) -> None:
    conn = await asyncpg.connect(database_dsn)
    tracer = trace.get_tracer(__name__)
    try:
        with tracer.start_as_current_span("caller") as caller:
            statement = await conn.prepare("SELECT $1::int + 1 AS answer")
            rows = await statement.fetch(41)
            value = await statement.fetchval(1)
    finally:
        await conn.close()

    recorded = spans.finished()
    assert rows[0]["answer"] == 42
    assert value == 2
    queries = [s for s in recorded if "$1::int + 1" in _statement(s)]
    assert len(queries) == 2
    caller_id = caller.get_span_context().span_id
    for span in queries:
        assert span.parent is not None
        assert span.parent.span_id == caller_id
        assert span.kind is SpanKind.CLIENT


async def test_local_embedding_span_joins_trace(
    spans: SpanRecorder, e5: LocalE5Provider
) -> None:
    tracer = trace.get_tracer(__name__)

    with tracer.start_as_current_span("caller") as caller:
        await e5.embed_passages(["первый текст", "второй текст"])

    embedding = _only(
        [s for s in spans.finished() if s.name == "embedding.local"],
        "local embedding",
    )
    assert embedding.parent is not None
    assert embedding.parent.span_id == caller.get_span_context().span_id
    assert (embedding.attributes or {}).get("embedding.inputs") == 2


async def test_executor_without_context_copy_starts_new_trace(
    spans: SpanRecorder,
) -> None:
    # embedding.py relies on this difference: a bare executor call runs without
    # the caller's contextvars, and asyncio.to_thread copies them.
    tracer = trace.get_tracer(__name__)

    def trace_id_in_thread() -> str:
        return current_trace_id()

    with tracer.start_as_current_span("caller"):
        expected = current_trace_id()
        loop = asyncio.get_running_loop()
        bare = await loop.run_in_executor(None, trace_id_in_thread)
        copied = await asyncio.to_thread(trace_id_in_thread)

    assert expected
    assert bare == ""
    assert copied == expected


async def test_second_configure_keeps_installed_provider(
    recorder: SpanRecorder,
) -> None:
    extra = InMemorySpanExporter()

    provider = configure_tracing("second-service", exporter=extra)
    with trace.get_tracer(__name__).start_as_current_span("after-second-call"):
        pass
    provider.force_flush()

    assert provider is recorder.provider
    assert provider is trace.get_tracer_provider()
    assert [s.name for s in extra.get_finished_spans()] == ["after-second-call"]
    extra.shutdown()


def test_otlp_exporter_needs_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)

    assert otlp_exporter_from_environment() is None


def test_otlp_exporter_from_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter,
    )

    # The exporter connects on its first export, and this test exports nothing.
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")

    exporter = otlp_exporter_from_environment()

    assert isinstance(exporter, OTLPSpanExporter)
    exporter.shutdown()


async def test_scheduled_job_runs_in_its_own_trace(
    database_dsn: str, spans: SpanRecorder
) -> None:
    pool = await _open_pool(database_dsn, "auth")
    seen: list[str] = []

    async def work(job: JobRow, progress: Progress) -> dict[str, int]:
        seen.append(current_trace_id())
        return {}

    try:
        scheduler = Scheduler(pool, "auth", {"work": work})
        await scheduler.ensure("work", 60, JOB_PROJECT)
        await scheduler.trigger("work", JOB_PROJECT)
        await scheduler.run_due_once()
    finally:
        await pool.close()
    job_span = _only([s for s in spans.finished() if s.name == "job work"], "job")

    assert seen[0] != ""
    assert seen[0] == _hex_trace_id(job_span)
