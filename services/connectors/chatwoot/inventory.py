"""Walks of the Chatwoot API that list ids the way the sync stores them.

Each walk yields rows keyed like the raw tables' columns, so one function per
entity turns a source row and a stored row into the same entry.
"""

from collections.abc import AsyncIterator
from typing import Any

from services.connectors.chatwoot import records
from services.connectors.chatwoot.client import ChatwootClient

JsonObject = dict[str, Any]


async def contact_rows(client: ChatwootClient) -> AsyncIterator[dict[str, Any]]:
    """Yield every contact the sync would store, once each.

    The sync stores the listed contacts and also the sender of every
    conversation. Chatwoot lists only contacts with an e-mail address, a phone
    number or an identifier, so senders without any of them are found only
    through the conversations.
    """
    listed: set[str] = set()
    async for page in client.iter_contact_pages():
        for contact in page:
            row = _contact_row(records.clean(contact).data)
            listed.add(row["external_id"])
            yield row
    async for page in client.iter_conversation_pages():
        for conversation in page:
            sender = _sender(records.clean(conversation).data)
            if sender is None or str(sender["id"]) in listed:
                continue
            row = _contact_row(sender)
            listed.add(row["external_id"])
            yield row


async def conversation_rows(client: ChatwootClient) -> AsyncIterator[dict[str, Any]]:
    """Yield every conversation of every status with its update time."""
    async for page in client.iter_conversation_pages():
        for conversation in page:
            yield {
                "external_id": str(conversation["id"]),
                # The same conversion as the sync's write of source_updated_at.
                "source_updated_at": float(conversation.get("updated_at") or 0),
            }


async def message_rows(client: ChatwootClient) -> AsyncIterator[dict[str, Any]]:
    """Yield every message of every conversation with its conversation's id."""
    async for page in client.iter_conversation_pages():
        for conversation in page:
            display_id = str(conversation["id"])
            for message in await client.list_all_messages(display_id):
                yield {
                    "external_id": str(message["id"]),
                    "conversation_external_id": display_id,
                }


def _contact_row(contact: JsonObject) -> dict[str, Any]:
    return {
        "external_id": str(contact["id"]),
        "email": contact.get("email"),
        "content_hash": records.contact_hash(contact),
    }


def _sender(conversation: JsonObject) -> JsonObject | None:
    sender = (conversation.get("meta") or {}).get("sender")
    return sender if isinstance(sender, dict) and "id" in sender else None
