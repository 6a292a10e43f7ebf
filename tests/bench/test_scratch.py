"""The benchmarks' scratch databases are created with schemas and all dropped."""

import asyncpg

from bench.scratch import drop_scratch_databases, fresh_database


async def _databases(server: str) -> set[str]:
    admin = await asyncpg.connect(server)
    try:
        return {
            row["datname"]
            for row in await admin.fetch("SELECT datname FROM pg_database")
        }
    finally:
        await admin.close()


async def test_scratch_databases_dropped(postgres_dsn: str) -> None:
    before = await _databases(postgres_dsn)
    first = await fresh_database(postgres_dsn, ("connectors",))
    await fresh_database(postgres_dsn, ("rag",))

    conn = await asyncpg.connect(first)
    try:
        applied = await conn.fetchval(
            "SELECT count(*) FROM connectors.schema_migrations"
        )
    finally:
        await conn.close()
    dropped = await drop_scratch_databases(postgres_dsn)

    assert applied > 0
    assert dropped == 2
    assert await _databases(postgres_dsn) == before
