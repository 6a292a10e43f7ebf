from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from pgvector.asyncpg import register_vector

from services.common.migrations import apply_migrations

RAG_MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "rag" / "migrations"
PROJECT = "00000000-0000-0000-0000-00000000000a"
OTHER_PROJECT = "00000000-0000-0000-0000-00000000000b"


@pytest.fixture
async def rag_pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh database holding the rag schema."""
    conn = await asyncpg.connect(database_dsn)
    try:
        await apply_migrations(conn, "rag", RAG_MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        database_dsn, min_size=1, max_size=4, init=register_vector
    )
    assert pool is not None
    yield pool
    await pool.close()
