"""The raw tables' upsert: what it writes, what it stamps as seen."""

import uuid

import asyncpg

from services.connectors.attio import sync as attio_sync
from services.connectors.rawstore import RawTable
from tests.connectors.conftest import PROJECT

TABLE = RawTable(
    "connectors.attio_people_raw",
    {
        "external_id": "text",
        "source_created_at": "timestamptz",
        "content_hash": "text",
        "raw": "jsonb",
        "name": "text",
        "emails": "text[]",
        "company_external_id": "text",
    },
)


def _row(key: str, content: str) -> dict[str, object]:
    return {
        "external_id": key,
        "source_created_at": None,
        "content_hash": content,
        "raw": f'{{"id": "{key}", "v": "{content}"}}',
        "name": key,
        "emails": [f"{key}@example.com"],
        "company_external_id": None,
    }


async def _seen(conn: asyncpg.Connection) -> dict[str, str | None]:
    rows = await conn.fetch(
        "SELECT external_id, seen_pass FROM connectors.attio_people_raw"
    )
    return {row["external_id"]: row["seen_pass"] for row in rows}


async def test_upsert_stamps_written_and_unchanged_rows(
    connectors_pool: asyncpg.Pool,
) -> None:
    async with connectors_pool.acquire() as conn:
        first = await TABLE.upsert(
            conn, PROJECT, [_row("a", "1"), _row("b", "1")], "p1"
        )
        assert sorted(first) == ["a", "b"]
        rows = [_row("a", "1"), _row("b", "2"), _row("c", "1")]
        second = await TABLE.upsert(conn, PROJECT, rows, "p2")
        assert sorted(second) == ["b", "c"]
        assert await _seen(conn) == {"a": "p2", "b": "p2", "c": "p2"}
        # Without a pass (a targeted fetch) the stamps stay as they were.
        assert await TABLE.upsert(conn, PROJECT, [_row("a", "3")]) == ["a"]
        assert (await _seen(conn))["a"] == "p2"


async def test_upsert_restores_deleted_unchanged_row(
    connectors_pool: asyncpg.Pool,
) -> None:
    async with connectors_pool.acquire() as conn:
        await TABLE.upsert(conn, PROJECT, [_row("a", "1")], "p1")
        assert await TABLE.delete_ids(conn, PROJECT, ["a"]) == ["a"]
        assert await TABLE.upsert(conn, PROJECT, [_row("a", "1")], "p2") == ["a"]
        deleted = await conn.fetchval(
            "SELECT deleted_at FROM connectors.attio_people_raw WHERE external_id = 'a'"
        )
        assert deleted is None


async def _reltuples(conn: asyncpg.Connection) -> float:
    value = await conn.fetchval(
        "SELECT reltuples FROM pg_class WHERE oid = 'connectors.crm_accounts'::regclass"
    )
    return float(value)


async def test_statistics_refresh_on_doubling(
    connectors_pool: asyncpg.Pool,
) -> None:
    async def add_accounts(count: int) -> None:
        await conn.execute(
            "INSERT INTO connectors.crm_accounts (project_id, source_system,"
            " external_ref, name, source_hash)"
            " SELECT $1, 'attio', 'c' || g || $3, repeat('n', 200), 'h'"
            " FROM generate_series(1, $2) g",
            uuid.UUID(PROJECT),
            count,
            uuid.uuid4().hex,
        )

    async with connectors_pool.acquire() as conn:
        await add_accounts(300)
        await attio_sync.refresh_statistics(conn)
        assert await _reltuples(conn) == 300
        # Ten percent more is within the factor of two: no new analyze.
        await add_accounts(30)
        await attio_sync.refresh_statistics(conn)
        assert await _reltuples(conn) == 300
        await add_accounts(400)
        await attio_sync.refresh_statistics(conn)
        assert await _reltuples(conn) == 730
