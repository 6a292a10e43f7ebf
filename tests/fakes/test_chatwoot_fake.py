"""The fake Chatwoot API: wire format, paging, auth, faults, loaders, demo data."""

import copy
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from fakes.chatwoot import datasets
from fakes.chatwoot.__main__ import build_store, parse_args
from fakes.chatwoot.app import create_app
from fakes.chatwoot.faults import FAULT_KINDS
from fakes.chatwoot.models import (
    ACTIVITY,
    INCOMING,
    OUTGOING,
    AttachmentSpec,
)
from fakes.chatwoot.store import DELETED_MESSAGE_TEXT, ChatwootStore
from fakes.common.faults import FaultPlan

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = REPO_ROOT / ".." / "shared" / "data" / "real"
SUPPORT = REAL_DATA / "support"
SWAGGER = REPO_ROOT / ".." / "shared" / "specs" / "chatwoot-swagger.json"

TOKEN = "test-token"
ACCOUNT_ID = 7
BASE = f"/api/v1/accounts/{ACCOUNT_ID}"
NOW = 1_796_000_000.0  # 2026-11-30, a fixed store clock
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)

CONVERSATION_FIELDS = {
    "meta", "id", "messages", "account_id", "uuid", "additional_attributes",
    "agent_last_seen_at", "assignee_last_seen_at", "can_reply",
    "contact_last_seen_at", "custom_attributes", "inbox_id", "labels", "muted",
    "snoozed_until", "status", "created_at", "updated_at", "timestamp",
    "first_reply_created_at", "unread_count", "last_non_activity_message",
    "last_activity_at", "priority", "waiting_since", "sla_policy_id",
}  # fmt: skip
MESSAGE_PARTIAL_FIELDS = {
    "id", "content", "inbox_id", "conversation_id", "message_type", "content_type",
    "status", "content_attributes", "created_at", "private", "source_id",
}  # fmt: skip


class Clock:
    """A settable clock for the store, so updated_within is predictable."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_client(
    store: ChatwootStore, faults: FaultPlan | None = None, token: str | None = TOKEN
) -> httpx.AsyncClient:
    app = create_app(store, api_token=TOKEN, account_id=ACCOUNT_ID, faults=faults)
    headers = {"api_access_token": token} if token is not None else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1:3001",
        headers=headers,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> ChatwootStore:
    return ChatwootStore(clock=clock)


@pytest.fixture
async def client(store: ChatwootStore) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(store) as http:
        yield http


def add_conversations(
    store: ChatwootStore, statuses: Iterable[str], *, start: int = 1_793_500_000
) -> list[int]:
    """Add one contact and conversation per status, each with two messages."""
    agent = store.ensure_agent("Agent A", "agent.a@example.com")
    display_ids = []
    for index, status in enumerate(statuses):
        created = start + index * 600
        contact = store.add_contact(
            f"Customer {index}", email=f"c{index}@example.com", created_at=created
        )
        conversation = store.add_conversation(
            contact.id, created_at=created, assignee_id=agent.id
        )
        store.add_message(conversation.display_id, "question", created_at=created + 5)
        store.add_message(
            conversation.display_id,
            "answer",
            message_type=OUTGOING,
            created_at=created + 60,
        )
        store.set_status(conversation.display_id, status, at=created + 120.5)
        display_ids.append(conversation.display_id)
    return display_ids


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def conversation_ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    body = await get_json(client, f"{BASE}/conversations", **params)
    return [row["id"] for row in body["data"]["payload"]]


async def message_ids(
    client: httpx.AsyncClient, display_id: int, **params: Any
) -> list[int]:
    body = await get_json(
        client, f"{BASE}/conversations/{display_id}/messages", **params
    )
    return [row["id"] for row in body["payload"]]


# Conversations list


async def test_status_defaults_to_open(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    statuses = ["open", "resolved", "open", "pending", "resolved", "snoozed", "open"]
    display_ids = add_conversations(store, statuses)
    open_ids = {d for d, s in zip(display_ids, statuses, strict=True) if s == "open"}

    default = await get_json(client, f"{BASE}/conversations")
    every = await get_json(client, f"{BASE}/conversations", status="all")

    assert {row["id"] for row in default["data"]["payload"]} == open_ids
    assert len(default["data"]["payload"]) == 3
    assert default["data"]["meta"]["all_count"] == 3
    assert len(every["data"]["payload"]) == 7
    assert every["data"]["meta"]["all_count"] == 7
    by_status = Counter(row["status"] for row in every["data"]["payload"])
    assert by_status == {"open": 3, "resolved": 2, "pending": 1, "snoozed": 1}


@pytest.mark.parametrize(
    ("status", "expected"),
    [("resolved", 2), ("pending", 1), ("snoozed", 1), ("open", 3), ("bogus", 0)],
)
async def test_status_filter_per_value(
    store: ChatwootStore, client: httpx.AsyncClient, status: str, expected: int
) -> None:
    add_conversations(
        store, ["open", "resolved", "open", "pending", "resolved", "snoozed", "open"]
    )

    ids = await conversation_ids(client, status=status)

    assert len(ids) == expected


async def test_search_skips_status_filter(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    display_ids = add_conversations(store, ["resolved", "open"])
    store.add_message(display_ids[0], "My invoice is wrong", created_at=1_793_600_000)

    ids = await conversation_ids(client, q="INVOICE")

    assert ids == [display_ids[0]]


async def test_conversations_page_25_until_end(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    display_ids = add_conversations(store, ["resolved"] * 60)

    pages = []
    for page in range(1, 5):
        pages.append(
            await conversation_ids(
                client, status="all", sort_by="created_at_asc", page=page
            )
        )

    assert [len(p) for p in pages] == [25, 25, 10, 0]
    assert [i for p in pages for i in p] == display_ids


async def test_page_param_like_kaminari(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    add_conversations(store, ["open"] * 30)
    first = await conversation_ids(client, sort_by="created_at_asc")

    for raw in ("0", "-3", "abc", ""):
        assert (
            await conversation_ids(client, sort_by="created_at_asc", page=raw) == first
        )


async def test_sort_by_values(store: ChatwootStore, client: httpx.AsyncClient) -> None:
    display_ids = add_conversations(store, ["open"] * 5)
    # A new message makes the oldest conversation the most recently active one.
    store.add_message(display_ids[0], "ping", created_at=1_793_700_000)
    by_activity = [display_ids[0], *reversed(display_ids[1:])]

    assert await conversation_ids(client, sort_by="created_at_asc") == display_ids
    assert await conversation_ids(client, sort_by="created_at_desc") == list(
        reversed(display_ids)
    )
    assert await conversation_ids(client) == by_activity
    assert (
        await conversation_ids(client, sort_by="last_activity_at_desc") == by_activity
    )
    assert await conversation_ids(client, sort_by="last_activity_at_asc") == list(
        reversed(by_activity)
    )
    assert await conversation_ids(client, sort_by="nonsense") == by_activity


async def test_counts_before_assignee_filter(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    display_ids = add_conversations(store, ["open"] * 4)
    other = store.add_agent("Agent B", "agent.b@example.com")
    store.assign(display_ids[0], None)
    store.assign(display_ids[1], other.id)

    body = await get_json(client, f"{BASE}/conversations", assignee_type="unassigned")

    assert body["data"]["meta"] == {
        "mine_count": 2,
        "assigned_count": 3,
        "unassigned_count": 1,
        "all_count": 4,
    }
    assert [row["id"] for row in body["data"]["payload"]] == [display_ids[0]]
    assert await conversation_ids(client, assignee_type="me") == [
        display_ids[3],
        display_ids[2],
    ]


async def test_updated_within_is_unpaginated(
    store: ChatwootStore, client: httpx.AsyncClient, clock: Clock
) -> None:
    display_ids = add_conversations(store, ["resolved"] * 40)
    clock.now = NOW
    changed = display_ids[5:35]
    for display_id in changed:
        store.touch(display_id)
    clock.now = NOW + 600

    ids = await conversation_ids(client, status="all", updated_within=3600, page=2)

    assert sorted(ids) == changed
    assert len(ids) == 30


async def test_message_change_touches_conversation(
    store: ChatwootStore, client: httpx.AsyncClient, clock: Clock
) -> None:
    (display_id,) = add_conversations(store, ["open"])
    before = store.get_conversation(display_id)
    assert before is not None
    first_updated_at = before.updated_at
    message_id = before.messages[0].id

    clock.now = NOW + 10.25
    store.edit_message(message_id, "edited question")
    edited = await get_json(client, f"{BASE}/conversations/{display_id}")
    clock.now = NOW + 20.5
    store.delete_message(message_id)
    deleted = await get_json(client, f"{BASE}/conversations/{display_id}/messages")

    assert edited["updated_at"] == NOW + 10.25
    assert edited["updated_at"] > first_updated_at
    assert store.get_conversation(display_id).updated_at == NOW + 20.5  # type: ignore[union-attr]
    assert deleted["payload"][0]["id"] == message_id
    assert deleted["payload"][0]["content"] == DELETED_MESSAGE_TEXT
    assert deleted["payload"][0]["content_attributes"] == {"deleted": True}


def test_touch_always_raises_updated_at(store: ChatwootStore) -> None:
    (display_id,) = add_conversations(store, ["open"])
    conversation = store.get_conversation(display_id)
    assert conversation is not None
    previous = conversation.updated_at

    store.touch(display_id, at=previous - 100)

    assert conversation.updated_at > previous


def test_message_ids_must_grow(store: ChatwootStore) -> None:
    (display_id,) = add_conversations(store, ["open"])
    store.add_message(display_id, "late", message_id=500)

    with pytest.raises(ValueError, match="must exceed"):
        store.add_message(display_id, "older id", message_id=499)
    assert store.add_message(display_id, "next").id == 501


def test_display_ids_start_at_one(store: ChatwootStore) -> None:
    contact = store.add_contact("A", email="a@example.com")

    first = store.add_conversation(contact.id)
    explicit = store.add_conversation(contact.id, display_id=501)
    following = store.add_conversation(contact.id)

    assert first.display_id == 1
    assert explicit.display_id == 501
    assert following.display_id == 502
    with pytest.raises(ValueError, match="already in use"):
        store.add_conversation(contact.id, display_id=501)


# One conversation and its wire format


async def test_conversation_object_shape(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    agent = store.add_agent("Agent A", "agent.a@example.com")
    contact = store.add_contact("Jane Doe", email="jane@example.com", created_at=1000)
    conversation = store.add_conversation(
        contact.id, labels=["billing"], created_at=1000, assignee_id=agent.id
    )
    store.add_message(conversation.display_id, "hello", created_at=1010)
    store.add_message(
        conversation.display_id, "hi", message_type=OUTGOING, created_at=1020
    )
    store.add_message(
        conversation.display_id,
        "Conversation was marked resolved by Agent A",
        message_type=ACTIVITY,
        created_at=1030,
    )
    store.set_status(conversation.display_id, "resolved", at=1030.75)

    body = await get_json(client, f"{BASE}/conversations/{conversation.display_id}")

    assert set(body) == CONVERSATION_FIELDS
    assert body["id"] == conversation.display_id
    assert body["account_id"] == ACCOUNT_ID
    assert body["updated_at"] == 1030.75
    assert isinstance(body["updated_at"], float)
    for name in ("created_at", "timestamp", "last_activity_at", "waiting_since"):
        assert isinstance(body[name], int), name
    assert body["first_reply_created_at"] == 1020
    assert body["waiting_since"] == 0
    assert body["contact_last_seen_at"] == 0
    assert body["meta"]["sender"]["email"] == "jane@example.com"
    assert body["meta"]["assignee"]["id"] == agent.id
    assert body["meta"]["channel"] == "Channel::WebWidget"
    assert len(body["messages"]) == 1
    assert body["messages"][0]["message_type"] == ACTIVITY
    assert "sender" not in body["messages"][0]
    assert isinstance(body["messages"][0]["updated_at"], str)
    assert body["last_non_activity_message"]["content"] == "hi"
    assert body["last_non_activity_message"]["sender_type"] == "User"
    assert body["last_non_activity_message"]["sender"]["type"] == "user"


async def test_unassigned_conversation_has_no_assignee(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    contact = store.add_contact("Visitor")
    conversation = store.add_conversation(contact.id)

    body = await get_json(client, f"{BASE}/conversations/{conversation.display_id}")

    assert "assignee" not in body["meta"]
    assert body["messages"] == []
    assert body["last_non_activity_message"] is None
    assert body["meta"]["sender"]["email"] is None


async def test_missing_conversation_is_404(client: httpx.AsyncClient) -> None:
    for path in (
        "/conversations/999",
        "/conversations/abc",
        "/conversations/9/messages",
    ):
        response = await client.get(BASE + path)

        assert response.status_code == 404, path
        assert response.json() == {"error": "Resource could not be found"}


# Messages


@pytest.fixture
def long_conversation(store: ChatwootStore) -> int:
    """Conversation 501 with 45 messages, ids 9001..9045."""
    store.add_agent("Agent A", "agent.a@example.com")
    contact = store.add_contact("Long Talker", email="long@example.com")
    conversation = store.add_conversation(contact.id, display_id=501)
    for offset in range(45):
        store.add_message(
            501,
            f"message {offset}",
            message_type=INCOMING if offset % 2 == 0 else OUTGOING,
            created_at=1_793_500_000 + offset * 30,
            message_id=9001 + offset,
        )
    return conversation.display_id


async def test_messages_page_backwards_with_before(
    client: httpx.AsyncClient, long_conversation: int
) -> None:
    pages = [await message_ids(client, long_conversation)]
    while pages[-1]:
        pages.append(
            await message_ids(client, long_conversation, before=min(pages[-1]))
        )

    assert [len(p) for p in pages] == [20, 20, 5, 0]
    assert pages[0] == list(range(9026, 9046))
    assert pages[1] == list(range(9006, 9026))
    assert pages[2] == list(range(9001, 9006))
    every = [i for p in pages for i in p]
    assert len(set(every)) == 45
    assert sorted(every) == list(range(9001, 9046))


async def test_messages_after_is_ascending_and_capped(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    (display_id,) = add_conversations(store, ["open"])
    for offset in range(118):
        store.add_message(display_id, f"m{offset}", created_at=1_793_600_000 + offset)
    all_ids = [m.id for m in store.get_conversation(display_id).messages]  # type: ignore[union-attr]

    first = await message_ids(client, display_id, after=0)
    rest = await message_ids(client, display_id, after=max(first))
    window = await message_ids(
        client, display_id, after=all_ids[10], before=all_ids[15]
    )

    assert first == all_ids[:100]
    assert rest == all_ids[100:]
    assert window == all_ids[10:15]
    assert await message_ids(client, display_id, after="") == all_ids[-20:]


async def test_message_cursor_must_be_integer(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    (display_id,) = add_conversations(store, ["open"])

    response = await client.get(
        f"{BASE}/conversations/{display_id}/messages", params={"before": "x"}
    )

    assert response.status_code == 422
    assert "before" in response.json()["error"]


async def test_message_partial_shape(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    agent = store.add_agent("Agent A", "agent.a@example.com")
    contact = store.add_contact("Jane", email="jane@example.com")
    conversation = store.add_conversation(contact.id, assignee_id=agent.id)
    display_id = conversation.display_id
    store.add_message(
        display_id,
        None,
        attachments=[AttachmentSpec(file_type="image", file_name="a.png")],
    )
    store.add_message(display_id, "<p><strong>Paid</strong></p>", message_type=OUTGOING)
    store.add_message(display_id, "Assigned to Agent A", message_type=ACTIVITY)

    body = await get_json(client, f"{BASE}/conversations/{display_id}/messages")
    attachment_only, reply, activity = body["payload"]

    assert set(attachment_only) == MESSAGE_PARTIAL_FIELDS | {"sender", "attachments"}
    assert attachment_only["content"] is None
    assert attachment_only["sender"]["type"] == "contact"
    assert attachment_only["attachments"][0]["file_type"] == "image"
    data_url = attachment_only["attachments"][0]["data_url"]
    assert data_url.startswith("http://127.0.0.1:3001/")
    assert set(reply) == MESSAGE_PARTIAL_FIELDS | {"sender"}
    assert reply["sender"]["type"] == "user"
    assert reply["sender"]["available_name"] == "Agent A"
    assert set(activity) == MESSAGE_PARTIAL_FIELDS
    assert body["meta"]["contact"]["type"] == "contact"
    assert body["meta"]["assignee"]["type"] == "user"
    assert body["meta"]["agent_last_seen_at"] is None
    download = await client.get(data_url, headers={"api_access_token": ""})
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"


async def test_filter_internal_messages(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    (display_id,) = add_conversations(store, ["open"])
    store.add_message(display_id, "note", message_type=OUTGOING, private=True)
    store.add_message(display_id, "resolved", message_type=ACTIVITY)

    ids = await message_ids(client, display_id, filter_internal_messages="1")

    assert len(ids) == 2


# Contacts


async def test_contacts_page_15_resolved_only(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    for number in range(40):
        if number % 8 == 3:
            store.add_contact(f"Anonymous {number}", created_at=1000 + number)
        elif number % 8 == 5:
            store.add_contact(
                f"Phone {number}",
                phone_number=f"+1202555{number:04d}",
                created_at=1000 + number,
            )
        else:
            store.add_contact(
                f"Mail {number}",
                email=f"m{number}@example.com",
                created_at=1000 + number,
            )

    pages = [
        await get_json(client, f"{BASE}/contacts", sort="created_at", page=page)
        for page in (1, 2, 3, 4)
    ]

    assert [len(p["payload"]) for p in pages] == [15, 15, 5, 0]
    assert {p["meta"]["count"] for p in pages} == {35}
    names = [row["name"] for p in pages for row in p["payload"]]
    assert not [name for name in names if name.startswith("Anonymous")]
    created = [row["created_at"] for p in pages for row in p["payload"]]
    assert created == sorted(created)
    assert pages[1]["meta"]["current_page"] == "2"


async def test_contacts_meta_and_options(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    add_conversations(store, ["open"] * 3)

    default = await get_json(client, f"{BASE}/contacts")
    slim = await get_json(client, f"{BASE}/contacts", include_contact_inboxes="false")
    newest_first = await get_json(client, f"{BASE}/contacts", sort="-created_at")

    assert default["meta"] == {"count": 3, "current_page": 1}
    assert default["payload"][0]["contact_inboxes"][0]["inbox"]["name"] == "Website"
    assert "contact_inboxes" not in slim["payload"][0]
    created = [row["created_at"] for row in newest_first["payload"]]
    assert created == sorted(created, reverse=True)


async def test_unresolved_contact_readable_by_id(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    hidden = store.add_contact("Visitor 17")

    listed = await get_json(client, f"{BASE}/contacts")
    show_body = await get_json(client, f"{BASE}/contacts/{hidden.id}")
    missing = await client.get(f"{BASE}/contacts/{hidden.id + 1}")

    assert listed["payload"] == []
    assert show_body["payload"]["name"] == "Visitor 17"
    assert "last_activity_at" not in show_body["payload"]
    assert missing.status_code == 404
    assert missing.json() == {"error": "Resource could not be found"}


# Auth


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
async def test_bad_token_is_401(store: ChatwootStore, token: str | None) -> None:
    async with make_client(store, token=token) as http:
        for path in ("/conversations", "/contacts", "/conversations/1/messages"):
            response = await http.get(BASE + path)

            assert response.status_code == 401, path
            assert response.json() == {"error": "Invalid Access Token"}


async def test_other_account_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/accounts/8/conversations")

    assert response.status_code == 401
    assert response.json() == {"error": "You are not authorized to do this action"}


async def test_dashed_token_header_accepted(store: ChatwootStore) -> None:
    async with make_client(store, token=None) as http:
        response = await http.get(
            f"{BASE}/contacts", headers={"api-access-token": TOKEN}
        )

    assert response.status_code == 200


# Faults


async def test_scripted_faults_in_order(store: ChatwootStore) -> None:
    add_conversations(store, ["open"])
    plan = FaultPlan(script=("429", "ok", "503", "500", "502", "401", "truncated"))

    async with make_client(store, faults=plan) as http:
        responses = [await http.get(f"{BASE}/conversations") for _ in range(8)]

    throttled = responses[0]
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "text/plain"
    assert throttled.content == b"Retry later\n"
    assert "retry-after" not in throttled.headers
    assert [r.status_code for r in responses] == [
        429,
        200,
        503,
        500,
        502,
        401,
        200,
        200,
    ]
    assert responses[5].json() == {"error": "Invalid Access Token"}
    with pytest.raises(json.JSONDecodeError):
        json.loads(responses[6].content)
    assert responses[7].json()["data"]["payload"]


async def test_random_faults_repeat_per_seed(store: ChatwootStore) -> None:
    plan = FaultPlan(rate=0.5, kinds=("429", "503"), seed=42)

    runs = []
    for _ in range(2):
        async with make_client(store, faults=plan) as http:
            runs.append(
                [(await http.get(f"{BASE}/contacts")).status_code for _ in range(40)]
            )

    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 429, 503}


async def test_fault_path_filter(store: ChatwootStore) -> None:
    (display_id,) = add_conversations(store, ["open"])
    plan = FaultPlan(rate=1.0, kinds=("500",), path_contains="/messages")

    async with make_client(store, faults=plan) as http:
        listing = await http.get(f"{BASE}/conversations")
        messages = await http.get(f"{BASE}/conversations/{display_id}/messages")

    assert listing.status_code == 200
    assert messages.status_code == 500


async def test_timeout_fault_hangs(store: ChatwootStore) -> None:
    plan = FaultPlan(script=("timeout",), hang_seconds=0.3)

    async with make_client(store, faults=plan) as http:
        started = time.monotonic()
        response = await http.get(f"{BASE}/contacts")
        elapsed = time.monotonic() - started

    assert elapsed >= 0.3
    assert response.status_code == 200


async def test_faults_set_and_cleared_at_runtime(
    store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    no_token = {"api_access_token": ""}
    set_response = await client.post(
        "/__fake__/faults", json={"script": ["503"]}, headers=no_token
    )
    failed = await client.get(f"{BASE}/contacts")
    await client.post("/__fake__/faults", json={"rate": 1.0}, headers=no_token)
    throttled = await client.get(f"{BASE}/contacts")
    cleared = await client.delete("/__fake__/faults", headers=no_token)
    healthy = await client.get(f"{BASE}/contacts")
    plan_after_clear = (await client.get("/__fake__/faults", headers=no_token)).json()
    stats = (await client.get("/__fake__/stats", headers=no_token)).json()
    await client.delete("/__fake__/stats", headers=no_token)
    reset = (await client.get("/__fake__/stats", headers=no_token)).json()

    assert set_response.status_code == 200
    assert set_response.json()["script"] == ["503"]
    assert failed.status_code == 503
    assert throttled.status_code == 429
    assert cleared.status_code == 204
    assert healthy.status_code == 200
    assert stats["paths"] == {f"{BASE}/contacts": {"503": 1, "429": 1, "200": 1}}
    assert stats["faults"] == {"503": 1, "429": 1}
    assert stats["total"] == 3
    assert plan_after_clear is None
    assert reset == {"total": 0, "paths": {}, "faults": {}}


async def test_invalid_fault_plan_rejected(client: httpx.AsyncClient) -> None:
    unknown_kind = await client.post("/__fake__/faults", json={"kinds": ["418"]})
    bad_rate = await client.post("/__fake__/faults", json={"rate": 2})
    unknown_field = await client.post("/__fake__/faults", json={"rates": 0.1})

    assert unknown_kind.status_code == 422
    assert bad_rate.status_code == 422
    assert unknown_field.status_code == 422
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan(script=("404",)).check_kinds(FAULT_KINDS)


# Loaders on the real files


def test_banking_loader_full_file(store: ChatwootStore) -> None:
    path = SUPPORT / "sgd_train_dialogues_032_banks.json"
    raw = json.loads(path.read_text(encoding="utf-8"))

    display_ids = datasets.load_banking(store, path)

    conversations = store.conversations()
    assert len(display_ids) == 128
    assert len(conversations) == 128
    assert store.counts()["messages"] == sum(len(d["turns"]) for d in raw)
    assert {s for c in conversations for s in c.labels} == {
        "banks_1",
        "services_2",
        "homes_1",
    }
    assert {c.status for c in conversations} == {
        "open",
        "resolved",
        "pending",
        "snoozed",
    }
    first = store.get_conversation(display_ids[0])
    assert first is not None
    assert first.messages[0].content == raw[0]["turns"][0]["utterance"]
    assert first.messages[0].sender_type == "contact"
    assert first.messages[1].sender_type == "user"
    assert first.additional_attributes["source_id"] == raw[0]["dialogue_id"]
    emails = [c.email for c in store.contacts()]
    assert len(set(emails)) == 128
    assert emails[0] == "sgd-customer1@example.com"


def test_loaded_times_are_recent_and_ordered(store: ChatwootStore) -> None:
    datasets.load_banking(
        store, SUPPORT / "sgd_train_dialogues_032_banks.json", limit=20
    )
    datasets.load_multiwoz(
        store, SUPPORT / "russian_multiwoz_test_dialogues_001_ru.txt", limit=20
    )

    messages = sorted(
        (m for c in store.conversations() for m in c.messages), key=lambda m: m.id
    )
    created = [m.created_at for m in messages]
    assert created == sorted(created)
    assert created[0] >= 1_793_491_200  # 2026-11-01T00:00:00Z
    assert created[-1] < 1_796_083_200  # 2026-12-01T00:00:00Z
    for conversation in store.conversations():
        contact = store.get_contact(conversation.contact_id)
        assert contact is not None
        assert contact.created_at is not None
        assert contact.created_at <= conversation.created_at
        assert conversation.updated_at >= conversation.last_activity_at


def test_multiwoz_loader_full_russian_file(store: ChatwootStore) -> None:
    path = SUPPORT / "russian_multiwoz_test_dialogues_001_ru.txt"

    display_ids = datasets.load_multiwoz(store, path)

    conversations = store.conversations()
    assert len(display_ids) == 512
    assert store.counts()["messages"] == 7684
    assert {tuple(c.labels) for c in conversations} == {("multiwoz", "ru")}
    first = conversations[0]
    assert first.messages[0].content.startswith("Мне нужно забронировать")  # type: ignore[union-attr]
    assert [m.message_type for m in first.messages[:4]] == [
        INCOMING,
        OUTGOING,
        INCOMING,
        OUTGOING,
    ]
    assert {c.status for c in conversations} == {
        "open",
        "resolved",
        "pending",
        "snoozed",
    }


def test_multiwoz_loader_limit_and_offset(store: ChatwootStore) -> None:
    english = SUPPORT / "russian_multiwoz_test_dialogues_001_en.txt"
    russian = SUPPORT / "russian_multiwoz_test_dialogues_001_ru.txt"

    datasets.load_multiwoz(store, english, limit=3, offset=2)
    datasets.load_multiwoz(store, russian, limit=3, offset=2)

    conversations = store.conversations()
    assert len(conversations) == 6
    assert conversations[0].labels == ["multiwoz", "en"]
    assert conversations[3].labels == ["multiwoz", "ru"]
    assert conversations[0].additional_attributes["source_id"] == "3"
    assert conversations[0].messages[0].content is not None
    assert not CYRILLIC.search(conversations[0].messages[0].content)
    assert conversations[3].messages[0].content is not None
    assert CYRILLIC.search(conversations[3].messages[0].content)
    emails = {c.email for c in store.contacts()}
    assert "multiwoz-en-customer3@example.com" in emails
    assert "multiwoz-ru-customer3@example.com" in emails


def test_multiwoz_file_has_512_dialogues(store: ChatwootStore) -> None:
    path = SUPPORT / "russian_multiwoz_test_dialogues_001_en.txt"

    assert len(datasets.load_multiwoz(store, path)) == 512


def test_bitext_loader(store: ChatwootStore) -> None:
    path = SUPPORT / "bitext_customer_support_training.csv"

    display_ids = datasets.load_bitext(store, path, limit=50)

    assert len(display_ids) == 50
    first = store.get_conversation(display_ids[0])
    assert first is not None
    assert [m.message_type for m in first.messages] == [INCOMING, OUTGOING]
    assert first.messages[0].content == "how can I cancel purchase 113542617735902?"
    assert first.labels == ["cancel_order", "order"]
    assert all(len(c.messages) == 2 for c in store.conversations())


def test_bitext_loader_full_file(store: ChatwootStore) -> None:
    path = SUPPORT / "bitext_customer_support_training.csv"

    assert len(datasets.load_bitext(store, path)) == 4514


def test_loader_rejects_wrong_layout(store: ChatwootStore, tmp_path: Path) -> None:
    not_dialogues = tmp_path / "dialogues.json"
    not_dialogues.write_text('{"turns": []}', encoding="utf-8")
    wrong_columns = tmp_path / "rows.csv"
    wrong_columns.write_text("question,answer\nq,a\n", encoding="utf-8")

    with pytest.raises(ValueError, match="JSON array"):
        datasets.load_banking(store, not_dialogues)
    with pytest.raises(ValueError, match="missing CSV columns"):
        datasets.load_bitext(store, wrong_columns)


def test_cli_loads_real_support(tmp_path: Path) -> None:
    args = parse_args(
        ["--token", "t", "--data", "real-support", "--data-dir", str(REAL_DATA)]
        + ["--limit", "4"]
    )

    store = build_store(args)

    assert store.counts()["conversations"] == 8
    assert {c.labels[0] for c in store.conversations()} >= {"multiwoz"}
    with pytest.raises(SystemExit, match="not found"):
        build_store(
            parse_args(
                ["--token", "t", "--data", "bitext", "--data-dir", str(tmp_path)]
            )
        )


# Demo data set


def demo_store(seed: int = 7) -> ChatwootStore:
    store = ChatwootStore(clock=Clock())
    datasets.generate_demo(store, seed=seed)
    return store


def test_demo_covers_languages_and_statuses() -> None:
    store = demo_store()
    conversations = store.conversations()

    texts = [m.content or "" for c in conversations for m in c.messages]
    lengths = [len(c.messages) for c in conversations]
    assert len(conversations) == 30
    assert any(CYRILLIC.search(t) for t in texts)
    assert any(t and not CYRILLIC.search(t) for t in texts)
    assert Counter(c.status for c in conversations) == {
        "resolved": 12,
        "open": 9,
        "pending": 5,
        "snoozed": 4,
    }
    assert len([n for n in lengths if n > 20]) == 5
    assert len([n for n in lengths if 24 <= n <= 45]) == 5
    assert all(c.snoozed_until for c in conversations if c.status == "snoozed")


def test_demo_has_hard_content() -> None:
    store = demo_store()
    messages = [m for c in store.conversations() for m in c.messages]

    html = [m for m in messages if m.content and "<p><strong>" in m.content]
    attachment_only = [m for m in messages if m.content is None]
    activity = [m for m in messages if m.message_type == ACTIVITY]
    assert len(html) >= 3
    assert attachment_only
    assert all(m.attachments for m in attachment_only)
    assert activity
    assert any("charged twice" in (m.content or "") for m in messages)
    assert any("refund" in (m.content or "") for m in messages)


def test_demo_contacts() -> None:
    store = demo_store()
    contacts = store.contacts()

    with_email = [c for c in contacts if c.email]
    assert len(with_email) == len(contacts) - 1
    assert all(c.email.endswith("@example.com") for c in with_email)  # type: ignore[union-attr]
    returning = Counter(c.contact_id for c in store.conversations())
    assert max(returning.values()) >= 2


async def test_demo_is_deterministic() -> None:
    async def dump(store: ChatwootStore) -> list[Any]:
        async with make_client(store) as http:
            body = await get_json(
                http, f"{BASE}/conversations", status="all", sort_by="created_at_asc"
            )
            messages = await get_json(http, f"{BASE}/conversations/1/messages", after=0)
        return [body, messages]

    first = await dump(demo_store(seed=7))
    second = await dump(demo_store(seed=7))
    other = await dump(demo_store(seed=8))

    assert first == second
    assert first != other


# Validation against the saved Chatwoot OpenAPI spec


def openapi_to_json_schema(node: Any) -> Any:
    """Turn OpenAPI 3.0 `nullable: true` into a JSON Schema type that allows null."""
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: openapi_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    return converted


def spec_validator(schema_name: str) -> jsonschema.Draft7Validator:
    spec = json.loads(SWAGGER.read_text(encoding="utf-8"))
    root = {
        "$ref": f"#/components/schemas/{schema_name}",
        "components": openapi_to_json_schema(spec["components"]),
    }
    return jsonschema.Draft7Validator(root)


# The spec and Chatwoot's code disagree on these conversation fields, and the
# fake follows the code, so validation skips them:
# - timestamp: spec string, code integer (`last_activity_at.to_i`);
# - snoozed_until: spec number, code ISO datetime string or null;
# - priority, sla_policy_id: spec string and number, code null when unset;
# - messages, last_non_activity_message: spec `message` schema, but the code sends
#   push_event_data, whose updated_at is an ISO string, sender_type a class name
#   ("User"), and content or source_id may be null.
# status "snoozed" is missing from the spec enum, so the validated conversation is open.
CONVERSATION_FIELDS_NOT_IN_SPEC = (
    "timestamp",
    "snoozed_until",
    "priority",
    "sla_policy_id",
    "messages",
    "last_non_activity_message",
)


def spec_comparable(conversation: dict[str, Any]) -> dict[str, Any]:
    trimmed = copy.deepcopy(conversation)
    for name in CONVERSATION_FIELDS_NOT_IN_SPEC:
        trimmed.pop(name)
    return trimmed


@pytest.fixture
def spec_store(store: ChatwootStore) -> ChatwootStore:
    """An open conversation whose contact has every optional field set."""
    agent = store.add_agent("Agent A", "agent.a@example.com")
    contact = store.add_contact(
        "Jane Doe",
        email="jane@example.com",
        phone_number="+12025550100",
        identifier="crm-991",
        additional_attributes={"company_name": "Acme", "city": "Berlin"},
    )
    conversation = store.add_conversation(
        contact.id, labels=["billing"], assignee_id=agent.id
    )
    store.add_message(conversation.display_id, "Hi, my invoice is wrong")
    store.add_message(conversation.display_id, "Checking", message_type=OUTGOING)
    return store


async def test_conversation_matches_spec(
    spec_store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    listing = await get_json(client, f"{BASE}/conversations")
    show_body = await get_json(client, f"{BASE}/conversations/1")
    listing["data"]["payload"] = [
        spec_comparable(row) for row in listing["data"]["payload"]
    ]

    spec_validator("conversation_list").validate(listing)
    spec_validator("conversation_show").validate(spec_comparable(show_body))
    assert len(listing["data"]["payload"]) == 1


async def test_contact_matches_spec(
    spec_store: ChatwootStore, client: httpx.AsyncClient
) -> None:
    # The spec types meta.current_page as a string, which holds only when the
    # request sends `page`. Without it Chatwoot sends the integer 1.
    listing = await get_json(client, f"{BASE}/contacts", page="1")
    show_body = await get_json(client, f"{BASE}/contacts/1")

    spec_validator("contacts_list_response").validate(listing)
    spec_validator("contact_show_response").validate(show_body)
    assert listing["payload"][0]["contact_inboxes"]
