"""Chatwoot sync against the fake Chatwoot over real HTTP, into a real database."""

from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from fakes.chatwoot.app import create_app
from fakes.chatwoot.models import AttachmentSpec
from fakes.chatwoot.store import ChatwootStore
from fakes.openai.server import serve_in_thread
from services.connectors import feed, repository
from services.connectors.chatwoot.client import ChatwootClient
from services.connectors.chatwoot.sync import ChatwootSync
from services.connectors.http import RetryPolicy, SourceHttp
from tests.connectors.conftest import PROJECT

TOKEN = "fake-token"


@pytest.fixture
def store() -> ChatwootStore:
    return ChatwootStore()


@pytest.fixture
def chatwoot_url(store: ChatwootStore) -> Iterator[str]:
    with serve_in_thread(create_app(store, api_token=TOKEN, account_id=1)) as url:
        yield url


@pytest.fixture
async def client(chatwoot_url: str) -> AsyncIterator[ChatwootClient]:
    async with httpx.AsyncClient(
        headers={"api_access_token": TOKEN}, timeout=10
    ) as http:
        policy = RetryPolicy(max_attempts=2, backoff_base_seconds=0.01)
        yield ChatwootClient(SourceHttp(http, "chatwoot", policy), chatwoot_url, 1)


async def _sync(
    pool: asyncpg.Pool, client: ChatwootClient, mode: str = "full"
) -> dict[str, int]:
    async def progress(counts: dict[str, int]) -> None:
        return None

    sync = ChatwootSync(
        pool,
        client,
        project_id=PROJECT,
        run_id="00000000-0000-0000-0000-0000000000a1",
        overlap_seconds=120,
        progress=progress,
    )
    async with pool.acquire() as conn:
        cursor = await repository.load_cursor(conn, PROJECT, "chatwoot")
    await sync.run(mode, cursor, [])
    return dict(sync.counts)


async def test_every_status_is_synced(connectors_pool, store, client) -> None:
    contact = store.add_contact("Jane", email="jane@example.com")
    for status in ["open"] * 3 + ["resolved"] * 2 + ["pending", "snoozed"]:
        conversation = store.add_conversation(contact.id, status=status)
        store.add_message(
            conversation.display_id, f"hello from a {status} conversation"
        )

    await _sync(connectors_pool, client)
    async with connectors_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM connectors.cw_conversations"
            " GROUP BY status"
        )

    assert {row["status"]: row["n"] for row in rows} == {
        "open": 3,
        "resolved": 2,
        "pending": 1,
        "snoozed": 1,
    }


async def test_long_conversation_is_paged_backwards(
    connectors_pool, store, client
) -> None:
    contact = store.add_contact("Ivan", email="ivan@example.com")
    conversation = store.add_conversation(contact.id, display_id=501)
    for message_id in range(9001, 9046):
        store.add_message(501, f"message {message_id}", message_id=message_id)

    first = await _sync(connectors_pool, client, mode="incremental")
    second = await _sync(connectors_pool, client, mode="incremental")
    async with connectors_pool.acquire() as conn:
        ids = [
            row["message_id"]
            for row in await conn.fetch(
                "SELECT message_id FROM connectors.cw_messages ORDER BY message_id"
            )
        ]

    assert conversation.display_id == 501
    assert ids == list(range(9001, 9046))
    assert first["messages"] == 45
    assert second.get("messages", 0) == 0
    assert second.get("documents_changed", 0) == 0


async def test_nul_characters_do_not_abort_the_page(
    connectors_pool, store, client
) -> None:
    contact = store.add_contact("Pavel", email="pavel@example.com")
    conversation = store.add_conversation(contact.id)
    for index in range(1, 26):
        text = "Оплата\u0000 прошла" if index == 13 else f"сообщение {index}"
        store.add_message(conversation.display_id, text)

    counts = await _sync(connectors_pool, client)
    async with connectors_pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM connectors.cw_messages")
        cleaned = await conn.fetchrow(
            "SELECT content, raw->>'content' AS raw_content FROM connectors.cw_messages"
            " WHERE content LIKE 'Оплата%'"
        )

    assert stored == 25
    assert cleaned["content"] == "Оплата прошла"
    assert cleaned["raw_content"] == "Оплата прошла"
    assert counts["nul_characters_removed"] >= 1


async def test_null_and_html_content_become_clean_sections(
    connectors_pool, store, client
) -> None:
    contact = store.add_contact("Olga", email="olga@example.com")
    conversation = store.add_conversation(contact.id)
    store.add_message(
        conversation.display_id,
        None,
        attachments=[
            AttachmentSpec(file_type="image", data_url="https://files.example/a.png")
        ],
    )
    store.add_message(
        conversation.display_id, "<p><strong>Счёт №55</strong> оплачен</p>"
    )
    store.add_message(conversation.display_id, "**срочно** перезвоните")

    await _sync(connectors_pool, client)
    async with connectors_pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM connectors.cw_messages")
        documents = await feed.read_changes(
            conn, PROJECT, 0, 10, "http://chatwoot.test"
        )

    assert stored == 3
    assert len(documents) == 1
    assert [section["text"] for section in documents[0].sections] == [
        "Счёт №55 оплачен",
        "срочно перезвоните",
    ]


async def test_feed_orders_changes_and_skips_unchanged(
    connectors_pool, store, client
) -> None:
    contact = store.add_contact("Anna", email="anna@example.com")
    first = store.add_conversation(contact.id)
    second = store.add_conversation(contact.id)
    store.add_message(first.display_id, "first question")
    store.add_message(second.display_id, "second question")
    await _sync(connectors_pool, client)
    store.add_message(first.display_id, "a follow-up")

    async with connectors_pool.acquire() as conn:
        before = await feed.read_changes(conn, PROJECT, 0, 10, "")
    await _sync(connectors_pool, client)
    async with connectors_pool.acquire() as conn:
        after = await feed.read_changes(conn, PROJECT, before[-1].sequence, 10, "")

    assert [doc.external_id for doc in before] == [
        str(first.display_id),
        str(second.display_id),
    ]
    assert [doc.external_id for doc in after] == [str(first.display_id)]
    assert after[0].sections[-1]["text"] == "a follow-up"
