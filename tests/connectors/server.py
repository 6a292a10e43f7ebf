"""The real connectors servicer on a loopback port, and records stored through it.

The records are written with the same repository calls that syncs use, so a
test reads the rows a sync would leave.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from gen.connectors.v1 import connectors_pb2_grpc
from services.common.grpc_server import create_server
from services.connectors import documents
from services.connectors.chatwoot import repository as chatwoot_repository
from services.connectors.grpc_api import ConnectorsServicer
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
CHATWOOT_URL = "http://127.0.0.1:3001"
UPDATED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def serve_connectors(pool: asyncpg.Pool, secret: str) -> AsyncIterator[str]:
    """Serve ConnectorsServicer on 127.0.0.1 and yield its address."""
    # model_validate reads no environment variables, unlike the constructor.
    settings = ConnectorsSettings.model_validate({"CHATWOOT_BASE_URL": CHATWOOT_URL})
    runner = SyncRunner(pool, lease_seconds=30, heartbeat_seconds=10)
    server = create_server(secret, MAX_MESSAGE_BYTES)
    connectors_pb2_grpc.add_ConnectorsServiceServicer_to_server(
        ConnectorsServicer(pool, runner, settings), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def save_conversation(
    pool: asyncpg.Pool,
    project_id: str,
    conversation_id: int,
    contact: str,
    *,
    deleted: bool = False,
) -> None:
    """Store a Chatwoot conversation with one message, deleted if asked."""
    conversation = {
        "id": conversation_id,
        "account_id": 1,
        "status": "open",
        "labels": [],
        "created_at": int(UPDATED_AT.timestamp()),
        "updated_at": UPDATED_AT.timestamp(),
        "meta": {"sender": {"id": conversation_id + 1000, "name": contact}},
    }
    message = {
        "id": conversation_id * 10,
        "message_type": 0,
        "content": f"Message from {contact}",
        "created_at": int(UPDATED_AT.timestamp()),
        "sender": {"type": "contact", "id": conversation_id + 1000, "name": contact},
    }
    batch = chatwoot_repository.ConversationBatch(
        conversations=[conversation], messages={str(conversation_id): [message]}
    )
    async with pool.acquire() as conn, conn.transaction():
        await chatwoot_repository.save_conversations(conn, project_id, batch)
        if deleted:
            await chatwoot_repository.mark_deleted(
                conn, project_id, [str(conversation_id)]
            )


async def save_document(
    pool: asyncpg.Pool,
    project_id: str,
    source_type: str,
    external_id: str,
    title: str,
    *,
    deleted: bool = False,
) -> None:
    """Store a Linear issue or Attio deal document, as a tombstone if deleted."""
    document = documents.SourceDocument(
        source_type=source_type,
        external_id=external_id,
        title=title,
        url=f"http://127.0.0.1:3002/{source_type}/{external_id}",
        updated_at=UPDATED_AT,
        sections=[documents.section("s1", "agent", "Agent", title, UPDATED_AT)],
    )
    async with pool.acquire() as conn, conn.transaction():
        await documents.save(conn, project_id, [document])
        if deleted:
            await documents.tombstone(conn, project_id, source_type, [external_id])
