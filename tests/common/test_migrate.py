import asyncio

import asyncpg
import pytest

from services.common import migrate
from services.common.migrations import load_migrations, migrations_current


async def test_migrate_all_applies_every_schema(database_dsn: str) -> None:
    applied = await migrate.migrate_all(database_dsn)

    conn = await asyncpg.connect(database_dsn)
    try:
        current = {
            schema: await migrations_current(
                conn, schema, migrate.migrations_dir(schema)
            )
            for schema in migrate.SCHEMAS
        }
        vector = await conn.fetchval(
            "SELECT count(*) FROM pg_extension WHERE extname = 'vector'"
        )
    finally:
        await conn.close()

    expected = {
        schema: len(load_migrations(migrate.migrations_dir(schema)))
        for schema in migrate.SCHEMAS
    }
    assert set(migrate.SCHEMAS) == {"auth", "connectors", "rag", "reconcile"}
    assert applied == expected
    assert all(count > 0 for count in applied.values())
    assert current == dict.fromkeys(migrate.SCHEMAS, True)
    assert vector == 1


async def test_migrate_all_twice_is_no_op(database_dsn: str) -> None:
    await migrate.migrate_all(database_dsn)

    second = await migrate.migrate_all(database_dsn)

    assert second == dict.fromkeys(migrate.SCHEMAS, 0)


async def test_migrate_all_unreachable_server_raises() -> None:
    # Port 1 on the loopback address has no listener, so the connect fails.
    dsn = "postgresql://opsdesk@127.0.0.1:1/opsdesk"

    with pytest.raises(ConnectionRefusedError):
        await migrate.migrate_all(dsn)


def test_main_without_database_url_exits_nonzero(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)

    status = migrate.main()

    assert status == 1


def test_main_applies_migrations_and_exits_zero(
    monkeypatch: pytest.MonkeyPatch, database_dsn: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_dsn)

    status = migrate.main()

    assert status == 0


def test_main_with_edited_migration_exits_nonzero(
    monkeypatch: pytest.MonkeyPatch, database_dsn: str
) -> None:
    # An applied migration whose recorded checksum differs from the file on
    # disk must fail the Job rather than be skipped.
    monkeypatch.setenv("DATABASE_URL", database_dsn)
    assert migrate.main() == 0

    async def tamper() -> None:
        conn = await asyncpg.connect(database_dsn)
        try:
            await conn.execute(
                "UPDATE reconcile.schema_migrations SET checksum = 'edited'"
                " WHERE version = 1"
            )
        finally:
            await conn.close()

    asyncio.run(tamper())
    status = migrate.main()

    assert status == 1
