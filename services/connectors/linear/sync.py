"""One Linear sync: cycles, then issues with their comments and labels.

Passes ask for records updated after the entity's watermark less an overlap
(every record on a full pass), archived ones included. Archived or trashed
issues keep their raw row, with archived_at, and leave the search index. An
issue pass is followed by a short catch-up pass, so issues edited while the
walk ran are read again at their latest version.
"""

from datetime import datetime
from typing import Any

from services.common.database import Connection
from services.connectors import documents
from services.connectors.linear import records
from services.connectors.linear.client import ISSUE_PAGE_SIZE, LinearClient
from services.connectors.passes import Entity, Item, Page
from services.connectors.rawstore import RawTable

JsonObject = dict[str, Any]

ISSUES = RawTable(
    "connectors.linear_issues_raw",
    {
        "external_id": "text",
        "identifier": "text",
        "title": "text",
        "state_name": "text",
        "state_type": "text",
        "team_key": "text",
        "project_name": "text",
        "cycle_number": "integer",
        "priority": "double precision",
        "assignee_name": "text",
        "comment_count": "integer",
        "source_created_at": "timestamptz",
        "source_updated_at": "timestamptz",
        "archived_at": "timestamptz",
        "trashed": "boolean",
        "content_hash": "text",
        "raw": "jsonb",
    },
    newer="source_updated_at",
)
CYCLES = RawTable(
    "connectors.linear_cycles_raw",
    {
        "external_id": "text",
        "team_key": "text",
        "number": "integer",
        "name": "text",
        "starts_at": "timestamptz",
        "ends_at": "timestamptz",
        "completed_at": "timestamptz",
        "source_updated_at": "timestamptz",
        "archived_at": "timestamptz",
        "content_hash": "text",
        "raw": "jsonb",
    },
    newer="source_updated_at",
)


def _position(since: datetime | None) -> dict[str, Any]:
    return {
        "since": since.isoformat() if since else None,
        "after": None,
        "first": ISSUE_PAGE_SIZE,
    }


class IssuesEntity:
    name = "issues"
    always_full = False

    def __init__(self, client: LinearClient, project_id: str) -> None:
        self._client = client
        self._project_id = project_id

    def first_position(self, since: datetime | None) -> dict[str, Any]:
        return _position(since)

    async def fetch(self, position: dict[str, Any]) -> Page:
        nodes, after, first = await self._client.issues_page(
            int(position["first"]), position["after"], position["since"]
        )
        following = {**position, "after": after, "first": first} if after else None
        return Page(nodes, following)

    async def fetch_ids(self, external_ids: list[str]) -> list[JsonObject]:
        return await self._client.issues_by_id(external_ids)

    def to_row(self, record: JsonObject) -> dict[str, Any]:
        return records.issue_row(record)

    async def write(
        self, conn: Connection, items: list[Item], seen_pass: str | None
    ) -> dict[str, int]:
        nodes = [node for node, _ in items]
        rows = [row for _, row in items]
        written = set(await ISSUES.upsert(conn, self._project_id, rows, seen_pass))
        changed = [n for n in nodes if str(n["id"]) in written]
        hidden = [str(n["id"]) for n in changed if records.is_hidden(n)]
        visible = [
            records.issue_document(n) for n in changed if not records.is_hidden(n)
        ]
        documents_changed = await documents.save(conn, self._project_id, visible)
        removed = await documents.tombstone(
            conn, self._project_id, records.SOURCE_TYPE, hidden
        )
        return {
            "issues_seen": len(rows),
            "issues_written": len(written),
            "issues_archived": len(hidden),
            "documents_changed": documents_changed + removed,
        }

    async def delete_unseen(self, conn: Connection, seen_pass: str) -> int:
        deleted = await ISSUES.delete_unseen(conn, self._project_id, seen_pass)
        await documents.tombstone(conn, self._project_id, records.SOURCE_TYPE, deleted)
        return len(deleted)

    async def delete_ids(self, conn: Connection, external_ids: list[str]) -> int:
        deleted = await ISSUES.delete_ids(conn, self._project_id, external_ids)
        await documents.tombstone(conn, self._project_id, records.SOURCE_TYPE, deleted)
        return len(deleted)


class CyclesEntity:
    name = "cycles"
    always_full = False

    def __init__(self, client: LinearClient, project_id: str) -> None:
        self._client = client
        self._project_id = project_id

    def first_position(self, since: datetime | None) -> dict[str, Any]:
        return _position(since)

    async def fetch(self, position: dict[str, Any]) -> Page:
        nodes, after, first = await self._client.cycles_page(
            int(position["first"]), position["after"], position["since"]
        )
        following = {**position, "after": after, "first": first} if after else None
        return Page(nodes, following)

    async def fetch_ids(self, external_ids: list[str]) -> list[JsonObject]:
        return []

    def to_row(self, record: JsonObject) -> dict[str, Any]:
        return records.cycle_row(record)

    async def write(
        self, conn: Connection, items: list[Item], seen_pass: str | None
    ) -> dict[str, int]:
        rows = [row for _, row in items]
        written = await CYCLES.upsert(conn, self._project_id, rows, seen_pass)
        return {"cycles_seen": len(rows), "cycles_written": len(written)}

    async def delete_unseen(self, conn: Connection, seen_pass: str) -> int:
        return len(await CYCLES.delete_unseen(conn, self._project_id, seen_pass))

    async def delete_ids(self, conn: Connection, external_ids: list[str]) -> int:
        return len(await CYCLES.delete_ids(conn, self._project_id, external_ids))


def entities(client: LinearClient, project_id: str) -> list[Entity]:
    """Return the Linear entities in sync order."""
    return [CyclesEntity(client, project_id), IssuesEntity(client, project_id)]
