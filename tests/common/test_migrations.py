from pathlib import Path

import asyncpg
import pytest

from services.common.migrations import (
    MigrationError,
    apply_migrations,
    migrations_current,
)


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    (tmp_path / "001_create_items.sql").write_text(
        "CREATE TABLE demo.items (id int PRIMARY KEY);"
    )
    (tmp_path / "002_add_name.sql").write_text(
        "ALTER TABLE demo.items ADD COLUMN name text;"
    )
    return tmp_path


async def test_applying_twice_is_a_no_op(
    database_dsn: str, migrations_dir: Path
) -> None:
    conn = await asyncpg.connect(database_dsn)
    try:
        first = await apply_migrations(conn, "demo", migrations_dir)
        second = await apply_migrations(conn, "demo", migrations_dir)
        current = await migrations_current(conn, "demo", migrations_dir)
    finally:
        await conn.close()

    assert first == 2
    assert second == 0
    assert current is True


async def test_edited_applied_migration_is_rejected(
    database_dsn: str, migrations_dir: Path
) -> None:
    conn = await asyncpg.connect(database_dsn)
    try:
        await apply_migrations(conn, "demo", migrations_dir)
        (migrations_dir / "002_add_name.sql").write_text("SELECT 1;")
        with pytest.raises(MigrationError, match="002_add_name"):
            await apply_migrations(conn, "demo", migrations_dir)
    finally:
        await conn.close()


async def test_schema_without_migrations_is_not_current(
    database_dsn: str, migrations_dir: Path
) -> None:
    conn = await asyncpg.connect(database_dsn)
    try:
        current = await migrations_current(conn, "demo", migrations_dir)
    finally:
        await conn.close()

    assert current is False
