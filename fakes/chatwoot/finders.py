"""Filtering, sorting and paging of the list endpoints, as Chatwoot's finders do.

Behaviour follows Chatwoot at commit 0917e1a6 (`ConversationFinder`,
`MessageFinder`, `ContactsController`):
- conversations: `status` defaults to open, and `all` or a `q` search skips
  the status filter. Pages hold 25, but `updated_within` returns every match
  without paging. The counts are taken before the `assignee_type` filter.
- messages: the newest 20, 20 before an id, 100 after an id, or up to 1000
  between two ids, always returned oldest first.
- contacts: only contacts with an email, phone number or identifier, 15 per
  page, sorted by `sort` (a `-` prefix means descending).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes.chatwoot.models import ACTIVITY, Contact, Conversation, Message
from fakes.chatwoot.store import ChatwootStore

CONVERSATIONS_PER_PAGE = 25
CONTACTS_PER_PAGE = 15
MESSAGES_LATEST_LIMIT = 20
MESSAGES_BEFORE_LIMIT = 20
MESSAGES_AFTER_LIMIT = 100
MESSAGES_RANGE_LIMIT = 1000

DEFAULT_STATUS = "open"
DEFAULT_SORT = "last_activity_at_desc"
LEGACY_SORTS = {
    "latest": "last_activity_at_desc",
    "sort_on_created_at": "created_at_asc",
    "sort_on_priority": "priority_desc",
    "sort_on_waiting_since": "waiting_since_asc",
}
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3, "urgent": 4}
CONTACT_SORT_FIELDS: dict[str, Callable[[Contact], Any]] = {
    "name": lambda c: c.name.casefold() or None,
    "email": lambda c: (c.email or "").casefold() or None,
    "phone_number": lambda c: c.phone_number or None,
    "last_activity_at": lambda c: c.last_activity_at,
    "created_at": lambda c: c.created_at,
    "company": lambda c: c.additional_attributes.get("company_name"),
    "city": lambda c: c.additional_attributes.get("city"),
    "country": lambda c: c.additional_attributes.get("country"),
}


@dataclass(frozen=True)
class ConversationQuery:
    """Query parameters of `GET /conversations`, as text where Rails reads text."""

    status: str | None = None
    assignee_type: str | None = None
    inbox_id: int | None = None
    labels: list[str] = field(default_factory=list)
    q: str | None = None
    sort_by: str | None = None
    page: int = 1
    updated_within: str | None = None


@dataclass(frozen=True)
class ConversationResult:
    """Conversations of one response and the counts sent in `data.meta`."""

    conversations: list[Conversation]
    mine_count: int
    assigned_count: int
    unassigned_count: int
    all_count: int


def ruby_to_i(raw: str | None) -> int:
    """Convert text to an integer as Ruby's `to_i` does: leading digits, else 0."""
    match = re.match(r"\s*([+-]?\d+)", raw or "")
    return int(match.group(1)) if match else 0


def page_number(raw: str | None) -> int:
    """Return the page Kaminari serves for a `page` parameter: 1 unless positive."""
    return max(ruby_to_i(raw), 1)


def find_conversations(
    store: ChatwootStore, query: ConversationQuery, *, current_agent_id: int | None
) -> ConversationResult:
    """Select, count, sort and page conversations as the list endpoint does."""
    selected = [c for c in store.conversations() if _matches(c, query)]
    mine = sum(1 for c in selected if _is_mine(c, current_agent_id))
    unassigned = sum(1 for c in selected if c.assignee_id is None)
    counts = (mine, len(selected) - unassigned, unassigned, len(selected))
    selected = _filter_assignee(selected, query.assignee_type, current_agent_id)
    selected = sort_conversations(selected, query.sort_by)
    if query.updated_within and query.updated_within.strip():
        cutoff = store.now() - ruby_to_i(query.updated_within)
        selected = [c for c in selected if c.updated_at > cutoff]
    else:
        start = (query.page - 1) * CONVERSATIONS_PER_PAGE
        selected = selected[start : start + CONVERSATIONS_PER_PAGE]
    return ConversationResult(selected, *counts)


def sort_conversations(
    conversations: list[Conversation], sort_by: str | None
) -> list[Conversation]:
    """Sort by a `sort_by` value, falling back to the default for unknown values."""
    name = LEGACY_SORTS.get(sort_by or "", sort_by or DEFAULT_SORT)
    column, _, direction = name.rpartition("_")
    keys: dict[str, Callable[[Conversation], Any]] = {
        "last_activity_at": lambda c: c.last_activity_at,
        "created_at": lambda c: c.created_at,
        "priority": lambda c: PRIORITY_RANK.get(c.priority or "", 0),
        "waiting_since": lambda c: c.waiting_since or 0,
    }
    if column not in keys or direction not in ("asc", "desc"):
        return sort_conversations(conversations, DEFAULT_SORT)
    key = keys[column]
    return sorted(
        conversations,
        key=lambda c: (key(c), c.display_id),
        reverse=direction == "desc",
    )


def find_messages(
    conversation: Conversation,
    *,
    before: int | None = None,
    after: int | None = None,
    filter_internal: bool = False,
) -> list[Message]:
    """Select the messages one messages-list response carries, oldest first."""
    rows = conversation.messages
    if filter_internal:
        rows = [m for m in rows if not m.private and m.message_type != ACTIVITY]
    ordered = sorted(rows, key=lambda m: (m.created_at, m.id))
    if after is not None and before is not None:
        window = [m for m in ordered if after <= m.id < before]
        return window[:MESSAGES_RANGE_LIMIT]
    if after is not None:
        return [m for m in ordered if m.id > after][:MESSAGES_AFTER_LIMIT]
    if before is not None:
        older = [m for m in ordered if m.id < before]
        return older[-MESSAGES_BEFORE_LIMIT:]
    return ordered[-MESSAGES_LATEST_LIMIT:]


def find_contacts(
    store: ChatwootStore, *, sort: str | None, page: int
) -> tuple[list[Contact], int]:
    """Return one page of resolved contacts and the number of resolved contacts.

    Without a known `sort` the contacts keep creation order. Chatwoot then
    sends SQL with no ORDER BY, so its order is undefined.
    """
    resolved = [c for c in store.contacts() if c.is_resolved]
    ordered = _sort_contacts(resolved, sort)
    start = (page - 1) * CONTACTS_PER_PAGE
    return ordered[start : start + CONTACTS_PER_PAGE], len(resolved)


def _sort_contacts(contacts: list[Contact], sort: str | None) -> list[Contact]:
    name = sort or ""
    descending = name.startswith("-")
    key = CONTACT_SORT_FIELDS.get(name.removeprefix("-"))
    if key is None:
        return contacts
    present = [c for c in contacts if key(c) is not None]
    missing = [c for c in contacts if key(c) is None]
    present.sort(key=lambda c: (key(c), c.id), reverse=descending)
    # Postgres puts NULLs last when ascending and first when descending.
    # NOTE: whether Chatwoot overrides this with NULLS LAST for some sort keys is
    # unchecked.
    return missing + present if descending else present + missing


def _matches(conversation: Conversation, query: ConversationQuery) -> bool:
    if query.q is None and not _status_matches(conversation, query.status):
        return False
    if query.inbox_id is not None and conversation.inbox_id != query.inbox_id:
        return False
    if query.labels and not set(query.labels) & set(conversation.labels):
        return False
    return query.q is None or _mentions(conversation, query.q)


def _status_matches(conversation: Conversation, status: str | None) -> bool:
    if status == "all":
        return True
    # Rails falls back to open only when the parameter is absent, not when blank.
    return conversation.status == (DEFAULT_STATUS if status is None else status)


def _mentions(conversation: Conversation, text: str) -> bool:
    needle = text.casefold()
    return any(
        message.message_type != ACTIVITY
        and needle in (message.content or "").casefold()
        for message in conversation.messages
    )


def _is_mine(conversation: Conversation, current_agent_id: int | None) -> bool:
    return current_agent_id is not None and conversation.assignee_id == current_agent_id


def _filter_assignee(
    conversations: list[Conversation],
    assignee_type: str | None,
    current_agent_id: int | None,
) -> list[Conversation]:
    if assignee_type == "me":
        return [c for c in conversations if _is_mine(c, current_agent_id)]
    if assignee_type == "unassigned":
        return [c for c in conversations if c.assignee_id is None]
    if assignee_type == "assigned":
        return [c for c in conversations if c.assignee_id is not None]
    return conversations
