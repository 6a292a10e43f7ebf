"""Chatwoot API objects turned into raw-table rows and normalised documents."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common import jsontext
from services.common.text import clean_message_text, strip_nul_json

JsonObject = dict[str, Any]

ACTIVITY_MESSAGE = 2
ROLE_BY_SENDER_TYPE = {"contact": "customer", "user": "agent", "agent_bot": "bot"}


@dataclass(frozen=True)
class CleanedRecord:
    """An API object with NUL characters removed, and how many were removed."""

    data: JsonObject
    nul_removed: int


def clean(record: JsonObject) -> CleanedRecord:
    """Strip NUL characters, which Postgres text and jsonb cannot store."""
    data, removed = strip_nul_json(record)
    return CleanedRecord(data=data, nul_removed=removed)


def timestamp(value: Any) -> datetime | None:
    """Convert Chatwoot's unix seconds (0 meaning unset) to an aware datetime."""
    if isinstance(value, int | float) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def contact_hash(contact: JsonObject) -> str:
    return jsontext.digest(contact)


def message_role(message: JsonObject) -> str:
    """Return who wrote a message: customer, agent, bot or system."""
    sender = message.get("sender") or {}
    role = ROLE_BY_SENDER_TYPE.get(str(sender.get("type", "")))
    if role:
        return role
    return "customer" if message.get("message_type") == 0 else "system"


def document_hash(conversation: JsonObject, messages: list[JsonObject]) -> str:
    """Hash the parts of a conversation that its search document is made of."""
    parts = {
        "status": conversation.get("status"),
        "labels": sorted(conversation.get("labels") or []),
        "contact": _contact_name(conversation),
        "messages": [
            [
                m.get("id"),
                m.get("message_type"),
                m.get("content"),
                sender_name(m),
                m.get("private"),
            ]
            for m in messages
        ],
    }
    return jsontext.digest(parts)


def document_title(conversation: JsonObject) -> str:
    name = _contact_name(conversation) or "unknown contact"
    status = conversation.get("status")
    return f"Conversation #{conversation.get('id')} with {name} ({status})"


def section_from_message(message: JsonObject) -> dict[str, Any] | None:
    """Return a document section for a message, or None when it contains no text."""
    if message.get("message_type") == ACTIVITY_MESSAGE:
        return None
    text = clean_message_text(message.get("content"))
    if not text:
        return None
    return {
        "section_id": str(message["id"]),
        "author_role": message_role(message),
        "author_name": sender_name(message),
        "text": text,
        "created_at": timestamp(message.get("created_at")),
    }


def _contact_name(conversation: JsonObject) -> str:
    sender = (conversation.get("meta") or {}).get("sender") or {}
    return str(sender.get("name") or "")


def sender_name(message: JsonObject) -> str:
    sender = message.get("sender") or {}
    return str(sender.get("available_name") or sender.get("name") or "")
