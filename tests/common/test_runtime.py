from pathlib import Path

import asyncpg
import grpc

from services.common.runtime import ServiceSpec, database_ready, prepare_database
from services.common.settings import CommonSettings


async def _register(server: grpc.aio.Server, pool: asyncpg.Pool) -> list[str]:
    return []


async def test_database_ready_follows_migrations_and_pool(
    database_dsn: str, tmp_path: Path
) -> None:
    (tmp_path / "001_create.sql").write_text("CREATE TABLE demo.items (id int);")
    spec = ServiceSpec("demo", "demo", tmp_path, _register, "127.0.0.1:0")
    pool = await prepare_database(spec, CommonSettings(database_url=database_dsn))

    ready = await database_ready(spec, pool)
    (tmp_path / "002_add.sql").write_text("ALTER TABLE demo.items ADD COLUMN n int;")
    behind = await database_ready(spec, pool)
    await pool.close()
    closed = await database_ready(spec, pool)

    assert ready is True
    assert behind is False
    assert closed is False
