"""The change feed: normalised documents for the RAG service, in change order."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.common.database import Connection
from services.connectors import documents
from services.connectors.chatwoot import records
from services.connectors.chatwoot import repository as chatwoot_repository

CONVERSATION_SOURCE_TYPE = "chatwoot_conversation"


@dataclass(frozen=True)
class FeedDocument:
    source_type: str
    external_id: str
    title: str
    url: str
    updated_at: datetime
    deleted: bool
    sequence: int
    sections: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


async def read_changes(
    conn: Connection,
    project_id: str,
    after_sequence: int,
    limit: int,
    chatwoot_base_url: str,
) -> list[FeedDocument]:
    """Return up to `limit` documents whose change number is above after_sequence."""
    rows = await chatwoot_repository.load_changed_documents(
        conn, project_id, after_sequence, limit
    )
    merged = [
        _conversation_document(row, messages, chatwoot_base_url)
        for row, messages in rows
    ]
    stored = await documents.load_changed(conn, project_id, after_sequence, limit)
    merged.extend(_stored_document(row) for row in stored)
    merged.sort(key=lambda document: document.sequence)
    return merged[:limit]


def _stored_document(row: dict[str, Any]) -> FeedDocument:
    sections = [
        {
            **section,
            "created_at": datetime.fromisoformat(section["created_at"])
            if section.get("created_at")
            else None,
        }
        for section in _json_list(row["sections"])
    ]
    return FeedDocument(
        source_type=row["source_type"],
        external_id=row["external_id"],
        title=row["title"],
        url=row["url"],
        updated_at=row["source_updated_at"],
        deleted=row["deleted"],
        sequence=row["change_seq"],
        sections=sections,
        metadata=_json(row["metadata"]),
    )


def _json_list(value: Any) -> list[dict[str, Any]]:
    return value if isinstance(value, list) else list(json.loads(value))


def _conversation_document(
    row: asyncpg.Record, messages: list[asyncpg.Record], base_url: str
) -> FeedDocument:
    conversation = _json(row["raw"])
    sections = []
    for message in messages:
        section = records.section_from_message(_json(message["raw"]))
        if section is not None:
            sections.append(section)
    return FeedDocument(
        source_type=CONVERSATION_SOURCE_TYPE,
        external_id=row["external_id"],
        title=records.document_title(conversation),
        url=conversation_url(base_url, conversation, row["external_id"]),
        updated_at=datetime.fromtimestamp(row["source_updated_at"], tz=UTC),
        deleted=row["deleted_at"] is not None,
        sequence=row["change_seq"],
        sections=sections,
        metadata={"status": row["status"], "labels": ",".join(row["labels"])},
    )


def conversation_url(
    base_url: str, conversation: dict[str, Any], external_id: str
) -> str:
    """Build the Chatwoot web address of a conversation from its raw record."""
    account = conversation.get("account_id", "")
    return f"{base_url.rstrip('/')}/app/accounts/{account}/conversations/{external_id}"


def _json(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(json.loads(value))
