"""documents.save: one batch of documents, their change numbers and content."""

import json
from datetime import UTC, datetime

import asyncpg

from services.connectors import documents
from services.connectors.documents import SourceDocument, section
from tests.connectors.conftest import PROJECT

UPDATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _document(key: str, text: str) -> SourceDocument:
    return SourceDocument(
        source_type="linear_issue",
        external_id=key,
        title=f"ENG-{key} Вход",
        url=f"https://linear.example/{key}",
        updated_at=UPDATED,
        sections=[section("description", "author", "Анна", text, UPDATED)],
        metadata={"team": "ENG", "labels": "bug,ошибка"},
    )


async def _stored(conn: asyncpg.Connection) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        "SELECT external_id, title, url, source_updated_at, sections, metadata,"
        " document_hash, change_seq, deleted FROM connectors.feed_documents"
    )
    return {row["external_id"]: row for row in rows}


async def test_save_stores_a_batch_in_order(connectors_pool: asyncpg.Pool) -> None:
    batch = [_document(str(n), f'Текст «{n}» — \\ " 😀') for n in range(1, 4)]
    async with connectors_pool.acquire() as conn, conn.transaction():
        assert await documents.save(conn, PROJECT, batch) == 3
    async with connectors_pool.acquire() as conn:
        stored = await _stored(conn)
    assert sorted(stored) == ["1", "2", "3"]
    assert [stored[str(n)]["change_seq"] for n in range(1, 4)] == [1, 2, 3]
    for document in batch:
        row = stored[document.external_id]
        assert row["title"] == document.title
        assert row["url"] == document.url
        assert row["source_updated_at"] == UPDATED
        assert json.loads(row["sections"]) == document.sections
        assert json.loads(row["metadata"]) == document.metadata
        assert row["document_hash"] == document.content_hash()
        assert row["deleted"] is False


async def test_save_renumbers_only_changed(connectors_pool: asyncpg.Pool) -> None:
    async with connectors_pool.acquire() as conn:
        first = [_document("1", "one"), _document("2", "two")]
        assert await documents.save(conn, PROJECT, first) == 2
        second = [_document("1", "one"), _document("2", "two, edited")]
        assert await documents.save(conn, PROJECT, second) == 1
        stored = await _stored(conn)
    assert stored["1"]["change_seq"] == 1
    assert stored["2"]["change_seq"] == 3
    assert json.loads(stored["2"]["sections"])[0]["text"] == "two, edited"


async def test_save_restores_tombstoned(connectors_pool: asyncpg.Pool) -> None:
    async with connectors_pool.acquire() as conn:
        await documents.save(conn, PROJECT, [_document("1", "one")])
        await documents.tombstone(conn, PROJECT, "linear_issue", ["1"])
        assert await documents.save(conn, PROJECT, [_document("1", "one")]) == 1
        stored = await _stored(conn)
    assert stored["1"]["deleted"] is False
    assert stored["1"]["change_seq"] == 3
    assert json.loads(stored["1"]["sections"])[0]["text"] == "one"
