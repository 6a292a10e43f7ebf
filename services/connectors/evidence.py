"""Current state of the documents that search evidence cites.

The RAG index lags behind the sources: a record deleted in Chatwoot, Linear
or Attio leaves the index only when the change feed is indexed again. Before
it cites a document, the RAG service calls GetDocuments to learn whether the
document still exists and what its title and address are now.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common.database import Connection
from services.common.errors import InvalidArgument
from services.connectors.attio.sync import DEAL_SOURCE_TYPE
from services.connectors.chatwoot import records
from services.connectors.feed import CONVERSATION_SOURCE_TYPE, conversation_url
from services.connectors.linear.records import SOURCE_TYPE as ISSUE_SOURCE_TYPE

# One query cites at most search_max_limit sources (50 by default), so 100
# refs leave room for the sources ranked after them.
MAX_REFS = 100
SOURCE_TYPES = (CONVERSATION_SOURCE_TYPE, ISSUE_SOURCE_TYPE, DEAL_SOURCE_TYPE)
INVALID_REFS_CODE = "invalid_document_refs"


@dataclass(frozen=True, order=True)
class DocumentRef:
    source_type: str
    source_id: str


@dataclass(frozen=True)
class DocumentState:
    """A document as the connectors service stores it now, or found=False."""

    ref: DocumentRef
    found: bool
    deleted: bool = False
    title: str = ""
    url: str = ""
    source_updated_at: datetime | None = None


def check_refs(refs: Sequence[DocumentRef]) -> None:
    """Raise InvalidArgument for too many refs, an unknown type or an empty id."""
    if len(refs) > MAX_REFS:
        raise InvalidArgument(
            f"{len(refs)} document refs requested; the maximum per call is"
            f" {MAX_REFS}, so split the request",
            code=INVALID_REFS_CODE,
        )
    for ref in refs:
        if ref.source_type not in SOURCE_TYPES:
            raise InvalidArgument(
                f"unknown source_type {ref.source_type!r};"
                f" use one of {', '.join(SOURCE_TYPES)}",
                code=INVALID_REFS_CODE,
            )
        if not ref.source_id:
            raise InvalidArgument(
                f"source_id is empty in a {ref.source_type} ref",
                code=INVALID_REFS_CODE,
            )


async def load_states(
    conn: Connection,
    project_id: str,
    refs: Sequence[DocumentRef],
    chatwoot_base_url: str,
) -> list[DocumentState]:
    """Return the state of each ref in the project, in the order of refs.

    A ref of another project, or of a record never synced, is not found.
    """
    check_refs(refs)
    found: dict[DocumentRef, DocumentState] = {}
    conversation_ids = sorted(
        {r.source_id for r in refs if r.source_type == CONVERSATION_SOURCE_TYPE}
    )
    if conversation_ids:
        found.update(
            await _conversation_states(
                conn, project_id, conversation_ids, chatwoot_base_url
            )
        )
    stored = sorted({r for r in refs if r.source_type != CONVERSATION_SOURCE_TYPE})
    if stored:
        found.update(await _stored_states(conn, project_id, stored))
    return [found.get(ref, DocumentState(ref=ref, found=False)) for ref in refs]


async def _conversation_states(
    conn: Connection, project_id: str, external_ids: list[str], base_url: str
) -> dict[DocumentRef, DocumentState]:
    rows = await conn.fetch(
        "SELECT external_id, deleted_at, source_updated_at, raw"
        " FROM connectors.cw_conversations"
        " WHERE project_id = $1 AND external_id = ANY($2::text[])",
        uuid.UUID(project_id),
        external_ids,
    )
    states = {}
    for row in rows:
        ref = DocumentRef(CONVERSATION_SOURCE_TYPE, row["external_id"])
        conversation = _json_object(row["raw"])
        states[ref] = DocumentState(
            ref=ref,
            found=True,
            deleted=row["deleted_at"] is not None,
            title=records.document_title(conversation),
            url=conversation_url(base_url, conversation, row["external_id"]),
            # Chatwoot sends updated_at as seconds since the epoch.
            source_updated_at=datetime.fromtimestamp(row["source_updated_at"], UTC),
        )
    return states


async def _stored_states(
    conn: Connection, project_id: str, refs: list[DocumentRef]
) -> dict[DocumentRef, DocumentState]:
    rows = await conn.fetch(
        "SELECT source_type, external_id, title, url, source_updated_at, deleted"
        " FROM connectors.feed_documents WHERE project_id = $1"
        " AND (source_type, external_id) IN"
        " (SELECT * FROM unnest($2::text[], $3::text[]))",
        uuid.UUID(project_id),
        [ref.source_type for ref in refs],
        [ref.source_id for ref in refs],
    )
    states = {}
    for row in rows:
        ref = DocumentRef(row["source_type"], row["external_id"])
        states[ref] = DocumentState(
            ref=ref,
            found=True,
            deleted=row["deleted"],
            title=row["title"],
            url=row["url"],
            source_updated_at=row["source_updated_at"],
        )
    return states


def _json_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else dict(json.loads(value))
