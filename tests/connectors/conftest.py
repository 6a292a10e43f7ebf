from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.common.migrations import apply_migrations

CONNECTORS_MIGRATIONS = (
    Path(__file__).resolve().parents[2] / "services" / "connectors" / "migrations"
)
PROJECT = "00000000-0000-0000-0000-0000000000c1"


@pytest.fixture
async def connectors_pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh database holding the connectors schema."""
    conn = await asyncpg.connect(database_dsn)
    try:
        await apply_migrations(conn, "connectors", CONNECTORS_MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(database_dsn, min_size=1, max_size=6)
    assert pool is not None
    yield pool
    await pool.close()
