"""SQL for the raw Chatwoot tables and the documents built from them."""

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.common import jsontext
from services.common.database import Connection
from services.connectors.chatwoot import records
from services.connectors.repository import allocate_sequences

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class ConversationBatch:
    """Conversations of one page with their full message lists where fetched."""

    conversations: list[JsonObject]
    messages: dict[str, list[JsonObject]]


async def upsert_contacts(
    conn: Connection, project_id: str, contacts: list[JsonObject]
) -> int:
    """Insert or update contacts whose content changed; return how many were written."""
    rows = []
    for contact in contacts:
        rows.append(
            (
                uuid.UUID(project_id),
                str(contact["id"]),
                str(contact.get("name") or ""),
                contact.get("email"),
                contact.get("phone_number"),
                contact.get("identifier"),
                records.timestamp(contact.get("created_at")),
                records.contact_hash(contact),
                jsontext.dumps(contact),
            )
        )
    written = await conn.fetch(
        "INSERT INTO connectors.cw_contacts AS c (project_id, external_id, name, email,"
        " phone_number, identifier, source_created_at, content_hash, raw)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
        " $5::text[],"
        " $6::text[], $7::timestamptz[], $8::text[], $9::jsonb[])"
        " ON CONFLICT (project_id, external_id) DO UPDATE SET name = EXCLUDED.name,"
        " email = EXCLUDED.email, phone_number = EXCLUDED.phone_number,"
        " identifier = EXCLUDED.identifier,"
        " source_created_at = coalesce(EXCLUDED.source_created_at,"
        " c.source_created_at),"
        " content_hash = EXCLUDED.content_hash, raw = EXCLUDED.raw, synced_at = now()"
        " WHERE c.content_hash IS DISTINCT FROM EXCLUDED.content_hash"
        " RETURNING 1",
        *[list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 9,
    )
    return len(written)


async def stored_update_times(
    conn: Connection, project_id: str, external_ids: list[str]
) -> dict[str, float]:
    """Return the source updated_at stored for each of the given conversations."""
    rows = await conn.fetch(
        "SELECT external_id, source_updated_at FROM connectors.cw_conversations"
        " WHERE project_id = $1 AND external_id = ANY($2::text[])",
        uuid.UUID(project_id),
        external_ids,
    )
    return {row["external_id"]: row["source_updated_at"] for row in rows}


async def save_conversations(
    conn: Connection, project_id: str, batch: ConversationBatch
) -> dict[str, int]:
    """Write one page of conversations and their messages; return counts.

    Call inside a transaction: a conversation whose document changed takes a
    new change-feed number, reserved in the same transaction.
    """
    senders = [c["meta"]["sender"] for c in batch.conversations if _has_sender(c)]
    contacts = await upsert_contacts(conn, project_id, senders)
    messages = 0
    for display_id, rows in batch.messages.items():
        messages += await _upsert_messages(conn, project_id, display_id, rows)
    changed = await _changed_documents(conn, project_id, batch)
    sequences = iter(
        await allocate_sequences(conn, project_id, len(changed)) if changed else []
    )
    for conversation in batch.conversations:
        key = str(conversation["id"])
        await _upsert_conversation(
            conn, project_id, conversation, changed.get(key), sequences
        )
    return {
        "conversations": len(batch.conversations),
        "messages": messages,
        "contacts": contacts,
        "documents_changed": len(changed),
    }


async def _changed_documents(
    conn: Connection, project_id: str, batch: ConversationBatch
) -> dict[str, str]:
    """Return the new document hash of every conversation whose document changed."""
    ids = [str(c["id"]) for c in batch.conversations]
    stored = {
        row["external_id"]: row["document_hash"]
        for row in await conn.fetch(
            "SELECT external_id, document_hash FROM connectors.cw_conversations"
            " WHERE project_id = $1 AND external_id = ANY($2::text[])",
            uuid.UUID(project_id),
            ids,
        )
    }
    changed = {}
    for conversation in batch.conversations:
        key = str(conversation["id"])
        messages = batch.messages.get(key)
        if messages is None:
            continue
        new_hash = records.document_hash(conversation, messages)
        if stored.get(key) != new_hash:
            changed[key] = new_hash
    return changed


async def _upsert_conversation(
    conn: Connection,
    project_id: str,
    conversation: JsonObject,
    new_hash: str | None,
    sequences: Any,
) -> None:
    sender = (conversation.get("meta") or {}).get("sender") or {}
    sequence = next(sequences) if new_hash else None
    await conn.execute(
        "INSERT INTO connectors.cw_conversations AS c (project_id, external_id, status,"
        " inbox_id, contact_external_id, labels, source_created_at, source_updated_at,"
        " document_hash, change_seq, raw)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, ''), coalesce($10, 0),"
        " $11::jsonb)"
        " ON CONFLICT (project_id, external_id) DO UPDATE SET status = EXCLUDED.status,"
        " inbox_id = EXCLUDED.inbox_id, contact_external_id ="
        " EXCLUDED.contact_external_id,"
        " labels = EXCLUDED.labels, source_created_at = EXCLUDED.source_created_at,"
        " source_updated_at = EXCLUDED.source_updated_at,"
        " document_hash = coalesce($9, c.document_hash),"
        " change_seq = coalesce($10, c.change_seq), deleted_at = NULL,"
        " raw = EXCLUDED.raw, synced_at = now()",
        uuid.UUID(project_id),
        str(conversation["id"]),
        str(conversation.get("status") or "open"),
        conversation.get("inbox_id"),
        str(sender["id"]) if "id" in sender else None,
        [str(label) for label in conversation.get("labels") or []],
        records.timestamp(conversation.get("created_at")),
        float(conversation.get("updated_at") or 0),
        new_hash,
        sequence,
        jsontext.dumps(conversation),
    )


async def _upsert_messages(
    conn: Connection,
    project_id: str,
    display_id: str,
    messages: list[JsonObject],
) -> int:
    if not messages:
        return 0
    project = uuid.UUID(project_id)
    rows = [
        (
            project,
            str(m["id"]),
            display_id,
            int(m["id"]),
            int(m.get("message_type") or 0),
            m.get("content"),
            m.get("content_type"),
            bool(m.get("private")),
            (m.get("sender") or {}).get("type"),
            str((m.get("sender") or {}).get("id", "")) or None,
            records.sender_name(m) or None,
            records.timestamp(m.get("created_at")),
            jsontext.dumps(m),
        )
        for m in messages
    ]
    await conn.executemany(
        "INSERT INTO connectors.cw_messages AS m (project_id, external_id,"
        " conversation_external_id, message_id, message_type, content, content_type,"
        " private,"
        " sender_type, sender_external_id, sender_name, source_created_at, raw)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb)"
        " ON CONFLICT (project_id, external_id) DO UPDATE SET"
        " conversation_external_id = EXCLUDED.conversation_external_id,"
        " message_type = EXCLUDED.message_type, content = EXCLUDED.content,"
        " content_type = EXCLUDED.content_type, private = EXCLUDED.private,"
        " sender_type = EXCLUDED.sender_type, sender_external_id ="
        " EXCLUDED.sender_external_id,"
        " sender_name = EXCLUDED.sender_name, source_created_at ="
        " EXCLUDED.source_created_at,"
        " raw = EXCLUDED.raw, synced_at = now()"
        " WHERE m.raw IS DISTINCT FROM EXCLUDED.raw",
        rows,
    )
    return len(rows)


async def load_changed_documents(
    conn: Connection, project_id: str, after_sequence: int, limit: int
) -> list[tuple[asyncpg.Record, list[asyncpg.Record]]]:
    """Return conversations changed after a feed number, each with its messages."""
    project = uuid.UUID(project_id)
    conversations = await conn.fetch(
        "SELECT external_id, status, labels, change_seq, deleted_at, raw,"
        " source_updated_at FROM connectors.cw_conversations"
        " WHERE project_id = $1 AND change_seq > $2 ORDER BY change_seq LIMIT $3",
        project,
        after_sequence,
        limit,
    )
    ids = [row["external_id"] for row in conversations]
    messages: dict[str, list[asyncpg.Record]] = {key: [] for key in ids}
    for row in await conn.fetch(
        "SELECT conversation_external_id, raw FROM connectors.cw_messages"
        " WHERE project_id = $1 AND conversation_external_id = ANY($2::text[])"
        " ORDER BY conversation_external_id, source_created_at NULLS FIRST, message_id",
        project,
        ids,
    ):
        messages[row["conversation_external_id"]].append(row)
    return [(row, messages[row["external_id"]]) for row in conversations]


def _has_sender(conversation: JsonObject) -> bool:
    sender = (conversation.get("meta") or {}).get("sender")
    return isinstance(sender, dict) and "id" in sender


async def mark_deleted(
    conn: Connection, project_id: str, external_ids: list[str]
) -> int:
    """Mark live conversations deleted, each with a new change number; return how many.

    Call inside a transaction.
    """
    project = uuid.UUID(project_id)
    live = await conn.fetch(
        "SELECT external_id FROM connectors.cw_conversations WHERE project_id = $1"
        " AND external_id = ANY($2::text[]) AND deleted_at IS NULL"
        " ORDER BY external_id FOR UPDATE",
        project,
        external_ids,
    )
    if not live:
        return 0
    sequences = await allocate_sequences(conn, project_id, len(live))
    await conn.execute(
        "UPDATE connectors.cw_conversations AS c SET deleted_at = now(),"
        " change_seq = s.seq FROM unnest($2::text[], $3::bigint[]) AS s(key, seq)"
        " WHERE c.project_id = $1 AND c.external_id = s.key",
        project,
        [row["external_id"] for row in live],
        sequences,
    )
    return len(live)
