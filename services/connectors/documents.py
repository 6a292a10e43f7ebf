"""Normalised documents of Linear issues and Attio deals, kept for the change feed.

Syncs render a document per changed record and save it here. A document takes
a new change number only when its content hash changes, so a sync that brings
no new text adds nothing to the feed. A tombstone (deleted = true) also takes
a new number, so the search index drops the record.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.common import jsontext
from services.common.database import Connection
from services.connectors.repository import allocate_sequences


@dataclass(frozen=True)
class SourceDocument:
    source_type: str
    external_id: str
    title: str
    url: str
    updated_at: datetime
    sections: list[dict[str, Any]]
    metadata: dict[str, str] = field(default_factory=dict)

    def content_hash(self) -> str:
        payload = json.dumps(
            [self.title, self.url, self.sections, self.metadata],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


def section(
    section_id: str,
    role: str,
    author: str,
    text: str,
    created_at: datetime | None,
) -> dict[str, Any]:
    """Build one section of a document."""
    return {
        "section_id": section_id,
        "author_role": role,
        "author_name": author,
        "text": text,
        "created_at": created_at.isoformat() if created_at else None,
    }


async def save(
    conn: Connection, project_id: str, documents: list[SourceDocument]
) -> int:
    """Store the documents whose content changed; return how many changed.

    Call inside the transaction that writes the records they come from.
    """
    if not documents:
        return 0
    project = uuid.UUID(project_id)
    stored = {
        (row["source_type"], row["external_id"]): (row["document_hash"], row["deleted"])
        for row in await conn.fetch(
            "SELECT source_type, external_id, document_hash, deleted"
            " FROM connectors.feed_documents WHERE project_id = $1"
            " AND (source_type, external_id) IN (SELECT * FROM unnest($2::text[],"
            " $3::text[]))",
            project,
            [d.source_type for d in documents],
            [d.external_id for d in documents],
        )
    }
    changed = []
    for document in {(d.source_type, d.external_id): d for d in documents}.values():
        digest = document.content_hash()
        if stored.get((document.source_type, document.external_id)) != (digest, False):
            changed.append((document, digest))
    if not changed:
        return 0
    sequences = await allocate_sequences(conn, project_id, len(changed))
    # One INSERT for the whole batch, because executemany runs the statement
    # once per document.
    columns: list[list[Any]] = [[] for _ in range(9)]
    for (document, digest), sequence in zip(changed, sequences, strict=True):
        values = (
            document.source_type,
            document.external_id,
            document.title,
            document.url,
            document.updated_at,
            jsontext.dumps(document.sections),
            jsontext.dumps(document.metadata),
            digest,
            sequence,
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    await conn.execute(
        "INSERT INTO connectors.feed_documents (project_id, source_type, external_id,"
        " title, url, source_updated_at, sections, metadata, document_hash,"
        " change_seq, deleted)"
        " SELECT $1, u.source_type, u.external_id, u.title, u.url, u.updated_at,"
        " u.sections, u.metadata, u.document_hash, u.change_seq, false"
        " FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::timestamptz[], $7::jsonb[], $8::jsonb[], $9::text[], $10::bigint[])"
        " AS u(source_type, external_id, title, url, updated_at, sections, metadata,"
        " document_hash, change_seq)"
        " ON CONFLICT (project_id, source_type, external_id) DO UPDATE SET"
        " title = EXCLUDED.title, url = EXCLUDED.url,"
        " source_updated_at = EXCLUDED.source_updated_at,"
        " sections = EXCLUDED.sections, metadata = EXCLUDED.metadata,"
        " document_hash = EXCLUDED.document_hash, change_seq = EXCLUDED.change_seq,"
        " deleted = false",
        project,
        *columns,
    )
    return len(changed)


async def tombstone(
    conn: Connection, project_id: str, source_type: str, external_ids: list[str]
) -> int:
    """Mark the documents of deleted or archived records deleted; return how many."""
    project = uuid.UUID(project_id)
    live = await conn.fetch(
        "SELECT external_id FROM connectors.feed_documents WHERE project_id = $1"
        " AND source_type = $2 AND external_id = ANY($3::text[]) AND NOT deleted"
        " ORDER BY external_id FOR UPDATE",
        project,
        source_type,
        external_ids,
    )
    if not live:
        return 0
    sequences = await allocate_sequences(conn, project_id, len(live))
    await conn.execute(
        "UPDATE connectors.feed_documents AS d SET deleted = true, change_seq = s.seq,"
        " sections = '[]', document_hash = ''"
        " FROM unnest($3::text[], $4::bigint[]) AS s(external_id, seq)"
        " WHERE d.project_id = $1 AND d.source_type = $2"
        " AND d.external_id = s.external_id",
        project,
        source_type,
        [row["external_id"] for row in live],
        sequences,
    )
    return len(live)


async def load_changed(
    conn: Connection, project_id: str, after_sequence: int, limit: int
) -> list[dict[str, Any]]:
    """Return stored documents changed after a feed number, in change order."""
    rows = await conn.fetch(
        "SELECT source_type, external_id, title, url, source_updated_at, sections,"
        " metadata, change_seq, deleted FROM connectors.feed_documents"
        " WHERE project_id = $1 AND change_seq > $2 ORDER BY change_seq LIMIT $3",
        uuid.UUID(project_id),
        after_sequence,
        limit,
    )
    return [dict(row) for row in rows]
