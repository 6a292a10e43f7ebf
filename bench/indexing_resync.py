"""Embedding requests made by a second sync of unchanged data.

Round one runs a full sync of the fake Linear (GitHub issues) and the fake
Chatwoot (Russian MultiWOZ dialogues) through the connectors service's own
sync code. Indexing then reads the real change feed over loopback gRPC, and
the embeddings job calls the fake OpenAI API. Round two repeats all three on
the same data. The figure is the number of embedding requests that the fake
OpenAI API received during round two.
"""

import secrets
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from pgvector.asyncpg import register_vector

from bench.indexing_pipeline import FakeOpenAI
from bench.results import Figure
from bench.scratch import fresh_database
from devstack.processes import ProcessGroup, free_port, wait_for_port
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.grpc_client import create_channel
from services.common.grpc_server import create_server
from services.common.internal_auth import service_principal
from services.connectors.grpc_api import ConnectorsServicer
from services.connectors.repository import SyncRun
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings
from services.connectors.sources import SyncBodies
from services.rag.embedding_job import EmbeddingJob, EmbeddingPolicy
from services.rag.feed_client import FeedClient
from services.rag.indexing import ChunkSizes, Indexer
from services.rag.main import OPENAI_MAX_BYTES, OPENAI_OVERLAP_BYTES

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / ".." / "shared" / "data" / "real"
LOGS = REPO / "var" / "bench" / "indexing" / "logs"
SECRET = "bench-secret-of-enough-length-for-hs256"
PROJECT = "00000000-0000-0000-0000-00000000be1e"
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
CHATWOOT_CONVERSATIONS = 200
SETUP = (
    " Re-sync: full syncs of the fake Linear (428 GitHub issues) and the fake"
    f" Chatwoot (the first {CHATWOOT_CONVERSATIONS} Russian MultiWOZ dialogues),"
    " indexing through the connectors' change feed over loopback gRPC and the"
    " embeddings job, twice; the figure counts the fake OpenAI's embedding"
    " requests during the second round."
)


async def measure_resync(server: str, fake: FakeOpenAI, repeat: int) -> Figure:
    """Count embedding requests of an unchanged second round, `repeat` times."""
    group = ProcessGroup(LOGS)
    try:
        settings = _start_sources(group)
        calls = [await _two_rounds(server, fake, settings) for _ in range(repeat)]
    finally:
        group.stop()
    return Figure(
        "embedding requests when a re-sync brings no changed text",
        "requests",
        [float(second) for _, second in calls],
        target="<= 0",
        note=f"first round made {calls[0][0]} requests",
    )


def _start_sources(group: ProcessGroup) -> ConnectorsSettings:
    """Start the fake Linear and Chatwoot APIs; return settings that reach them."""
    token = secrets.token_hex(8)
    linear, chatwoot = free_port(), free_port()
    data_dir = ["--data-dir", str(REAL)]
    group.start(
        "linear-fake",
        [
            "-m",
            "fakes.linear",
            "--port",
            str(linear),
            "--api-key",
            token,
            "--data",
            "github-issues",
            *data_dir,
        ],
        {},
    )
    group.start(
        "chatwoot-fake",
        [
            "-m",
            "fakes.chatwoot",
            "--port",
            str(chatwoot),
            "--token",
            token,
            "--account-id",
            "1",
            "--data",
            "multiwoz-ru",
            "--limit",
            str(CHATWOOT_CONVERSATIONS),
            *data_dir,
        ],
        {},
    )
    wait_for_port(group, linear, 120)
    wait_for_port(group, chatwoot, 120)
    return ConnectorsSettings.model_validate(
        {
            "INTERNAL_TOKEN_SECRET": SECRET,
            "LINEAR_API_URL": f"http://127.0.0.1:{linear}/graphql",
            "LINEAR_API_KEY": token,
            "CHATWOOT_BASE_URL": f"http://127.0.0.1:{chatwoot}",
            "CHATWOOT_API_TOKEN": token,
            "CHATWOOT_ACCOUNT_ID": 1,
        }
    )


async def _two_rounds(
    server: str, fake: FakeOpenAI, settings: ConnectorsSettings
) -> tuple[int, int]:
    """Return the embedding requests of the first and of the second round."""
    dsn = await fresh_database(server, ("connectors", "rag"))
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(
            dsn, min_size=2, max_size=8, init=register_vector
        )
        stack.push_async_callback(pool.close)
        indexer, job = await _rag(stack, pool, settings, fake)
        counts = []
        for _ in range(2):
            before = fake.embedding_requests()
            await _sync(pool, settings)
            await indexer.index_changes(service_principal("rag", PROJECT))
            await job.run(PROJECT)
            counts.append(fake.embedding_requests() - before)
    return counts[0], counts[1]


async def _rag(
    stack: AsyncExitStack,
    pool: asyncpg.Pool,
    settings: ConnectorsSettings,
    fake: FakeOpenAI,
) -> tuple[Indexer, EmbeddingJob]:
    """Serve the connectors servicer on loopback; build the RAG indexer and job."""
    runner = SyncRunner(pool, lease_seconds=30, heartbeat_seconds=10)
    server = create_server(SECRET, MAX_MESSAGE_BYTES)
    connectors_pb2_grpc.add_ConnectorsServiceServicer_to_server(
        ConnectorsServicer(pool, runner, settings), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stack.push_async_callback(server.stop, None)
    channel = create_channel(f"127.0.0.1:{port}", MAX_MESSAGE_BYTES)
    stack.push_async_callback(channel.close)
    provider = fake.provider()
    stack.push_async_callback(provider.aclose)
    indexer = Indexer(
        pool,
        FeedClient(channel, SECRET, 30),
        provider.tokenizer,
        ChunkSizes(OPENAI_MAX_BYTES, OPENAI_OVERLAP_BYTES),
        page_size=200,
    )
    policy = EmbeddingPolicy(256, 3, 30, 600, concurrency=4)
    return indexer, EmbeddingJob(pool, provider, policy)


async def _sync(pool: asyncpg.Pool, settings: ConnectorsSettings) -> None:
    """Run a full sync of Linear and Chatwoot into the connectors schema."""

    async def progress(counts: dict[str, int]) -> None:
        return None

    bodies = SyncBodies(pool, settings)
    for connector in ("linear", "chatwoot"):
        now = datetime.now(UTC)
        run = SyncRun(
            str(uuid.uuid4()),
            PROJECT,
            connector,
            "full",
            "running",
            "bench",
            now,
            now,
            now,
            None,
            {},
            None,
        )
        await bodies.for_connector(connector)(run, progress)
