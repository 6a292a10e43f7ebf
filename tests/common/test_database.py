from pathlib import Path

import asyncpg

from services.common.database import start_embedded_postgres, stop_embedded_postgres


async def test_embedded_server_starts_and_stops(tmp_path: Path) -> None:
    dsn = start_embedded_postgres(tmp_path)
    conn = await asyncpg.connect(dsn)
    try:
        answer = await conn.fetchval("SELECT 1")
    finally:
        await conn.close()

    stop_embedded_postgres(tmp_path)

    assert answer == 1
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()
