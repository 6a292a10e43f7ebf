"""The gateway over ASGI with the auth, RAG and connectors servers in this process.

The servers listen on 127.0.0.1 and share one test database. Searches embed
their question through a fake OpenAI API that answers every request with 503,
so the vector leg is unavailable and full-text search answers alone.
"""

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
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
from services.common.migrations import apply_migrations
from services.common.telemetry import configure_tracing
from services.rag import repository
from services.rag.chunking import Chunk
from services.rag.embedding import OpenAIProvider
from services.rag.embedding_job import EmbeddingJob, EmbeddingPolicy
from services.rag.feed_client import FeedClient
from services.rag.grpc_api import RagServicer
from services.rag.indexing import ChunkSizes, Indexer
from services.rag.query import QueryService
from services.rag.retrieval import HybridSearch
from tests.connectors.server import serve_connectors
from tests.fixtures.database import REPO_ROOT

SECRET = "test-internal-token-secret-of-32-bytes-or-more"
CSRF_SECRET = "test-csrf-secret-of-32-bytes-or-more"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
OPENAI_KEY = "sk-test-audit-trail"
OWNER = "owner"
OWNER_PASSWORD = "owner-password-for-audit-tests"
GATEWAY_URL = "http://gateway.test"
DOCUMENT_TEXT = (
    "Клиенту дважды списали оплату за заказ 1042. Возврат второго платежа"
    " оформлен в тот же день."
)


@dataclass
class ServiceStack:
    """A logged-in owner's client with the project "Audit" selected."""

    client: httpx.AsyncClient
    app: Any
    settings: GatewaySettings
    auth_pool: asyncpg.Pool
    rag_pool: asyncpg.Pool
    project_id: str
    owner_id: str

    def new_client(self) -> httpx.AsyncClient:
        """Return another client of the same gateway, without a session."""
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=GATEWAY_URL
        )


async def open_pool(dsn: str, schema: str, **options: Any) -> asyncpg.Pool:
    """Apply a service's migrations and return a pool on its database."""
    conn = await asyncpg.connect(dsn)
    try:
        migrations = REPO_ROOT / "services" / schema / "migrations"
        await apply_migrations(conn, schema, Path(migrations))
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, **options)
    assert pool is not None
    return pool


async def log_in(
    client: httpx.AsyncClient, username: str, password: str, project_id: str
) -> None:
    """Log client in, keep its CSRF token as a header and select project_id."""
    login = await client.post(
        "/auth/login", json={"username": username, "password": password}
    )
    assert login.status_code == 200, login.text
    client.headers["x-csrf-token"] = login.json()["csrf_token"]
    selected = await client.post(f"/projects/{project_id}/select")
    assert selected.status_code == 200, selected.text


async def seed_document(pool: asyncpg.Pool, project_id: str) -> None:
    """Index one conversation without an embedding, for full-text search only."""
    async with pool.acquire() as conn:
        await repository.upsert_document(
            conn,
            project_id,
            source_type="chatwoot_conversation",
            external_id="cw-1042",
            title="Conversation 1042",
            url="",
            updated_at=None,
            sequence=1,
            chunk_count=1,
            deleted=False,
        )
        chunk = Chunk(
            index=0,
            text=DOCUMENT_TEXT,
            token_count=len(DOCUMENT_TEXT.split()),
            content_hash=hashlib.sha256(DOCUMENT_TEXT.encode()).hexdigest(),
            first_section_id="s1",
            last_section_id="s1",
        )
        await repository.replace_chunks(
            conn, project_id, "chatwoot_conversation", "cw-1042", [chunk]
        )


def _rag_servicer(
    pool: asyncpg.Pool, provider: OpenAIProvider, connectors: str
) -> RagServicer:
    channel = create_channel(connectors, MAX_MESSAGE_BYTES)
    feed = FeedClient(channel, SECRET, 5.0)
    indexer = Indexer(pool, feed, provider.tokenizer, ChunkSizes(160, 32), 100)
    policy = EmbeddingPolicy(
        batch_size=8, max_attempts=3, retry_seconds=30.0, claim_stale_seconds=600.0
    )
    search = HybridSearch(pool, provider, candidates=50, ef_search=100)
    queries = QueryService(pool, search, None, 50)
    embeddings = EmbeddingJob(pool, provider, policy)
    return RagServicer(pool, indexer, embeddings, queries, provider, 8)


async def _start(server: grpc.aio.Server) -> str:
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return f"127.0.0.1:{port}"


@asynccontextmanager
async def serve_stack(database_dsn: str) -> AsyncIterator[ServiceStack]:
    """Start the servers and the gateway, and log the owner in."""
    # Without a tracer provider no request would have a trace id.
    configure_tracing("opsdesk-tests")
    async with AsyncExitStack() as stack:
        auth_pool = await open_pool(database_dsn, "auth")
        stack.push_async_callback(auth_pool.close)
        rag_pool = await open_pool(database_dsn, "rag", init=register_vector)
        stack.push_async_callback(rag_pool.close)
        connectors_pool = await open_pool(database_dsn, "connectors")
        stack.push_async_callback(connectors_pool.close)
        await bootstrap_owner(auth_pool, OWNER, OWNER_PASSWORD, "Audit")
        connectors_address = await stack.enter_async_context(
            serve_connectors(connectors_pool, SECRET)
        )
        openai_url = stack.enter_context(
            serve_in_thread(create_app(api_key=OPENAI_KEY, faults=Faults(down=True)))
        )
        provider = OpenAIProvider(OPENAI_KEY, f"{openai_url}/v1", max_retries=0)
        stack.push_async_callback(provider.aclose)

        auth_server = create_server(SECRET, MAX_MESSAGE_BYTES)
        config = SessionConfig(
            idle_seconds=3600, absolute_seconds=86400, csrf_secret=CSRF_SECRET
        )
        auth_pb2_grpc.add_AuthServiceServicer_to_server(
            AuthServicer(auth_pool, config), auth_server
        )
        auth_address = await _start(auth_server)
        stack.push_async_callback(auth_server.stop, None)
        rag_server = create_server(SECRET, MAX_MESSAGE_BYTES)
        rag_pb2_grpc.add_RagServiceServicer_to_server(
            _rag_servicer(rag_pool, provider, connectors_address), rag_server
        )
        rag_address = await _start(rag_server)
        stack.push_async_callback(rag_server.stop, None)

        settings = GatewaySettings(
            auth_address=auth_address,
            rag_address=rag_address,
            connectors_address=connectors_address,
            internal_token_secret=SECRET,
        )
        app = create_gateway_app(settings)
        app.state.clients = connect(settings)
        stack.push_async_callback(app.state.clients.close)
        client = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=GATEWAY_URL
            )
        )
        project_id = await auth_pool.fetchval(
            "SELECT id::text FROM auth.projects WHERE name = 'Audit'"
        )
        owner_id = await auth_pool.fetchval(
            "SELECT id::text FROM auth.users WHERE username = $1", OWNER
        )
        await log_in(client, OWNER, OWNER_PASSWORD, project_id)
        await seed_document(rag_pool, project_id)
        yield ServiceStack(
            client=client,
            app=app,
            settings=settings,
            auth_pool=auth_pool,
            rag_pool=rag_pool,
            project_id=project_id,
            owner_id=owner_id,
        )
