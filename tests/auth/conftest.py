from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest

from gen.auth.v1 import auth_pb2_grpc
from services.auth.grpc_api import AuthServicer
from services.auth.sessions import SessionConfig
from services.common.grpc_server import create_server
from services.common.migrations import apply_migrations
from tests.auth.helpers import ABSOLUTE_SECONDS, CSRF_SECRET, IDLE_SECONDS, TOKEN_SECRET

AUTH_MIGRATIONS = (
    Path(__file__).resolve().parents[2] / "services" / "auth" / "migrations"
)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@pytest.fixture
async def auth_pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh database holding the auth schema."""
    conn = await asyncpg.connect(database_dsn)
    try:
        await apply_migrations(conn, "auth", AUTH_MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(database_dsn, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
def session_config() -> SessionConfig:
    return SessionConfig(
        idle_seconds=IDLE_SECONDS,
        absolute_seconds=ABSOLUTE_SECONDS,
        csrf_secret=CSRF_SECRET,
    )


@pytest.fixture
async def auth_stub(
    auth_pool: asyncpg.Pool, session_config: SessionConfig
) -> AsyncIterator[auth_pb2_grpc.AuthServiceStub]:
    """A client of a real grpc.aio server on a free local port."""
    server = create_server(TOKEN_SECRET, MAX_MESSAGE_BYTES)
    servicer = AuthServicer(auth_pool, session_config)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield auth_pb2_grpc.AuthServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(None)
