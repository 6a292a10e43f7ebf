"""One Attio sync: companies, then people, then deals, mirrored into the CRM tables.

Attio records have no update time, so every pass is a full walk: a content
hash skips unchanged records, and the records a finished walk did not see
are marked deleted. After every page the mirror takes the new or changed
accounts and deals, and the deal documents whose deal, company or people
changed are rendered again for search.
"""

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.common.database import Connection
from services.connectors import crm, documents
from services.connectors.attio import records
from services.connectors.attio.client import PAGE_SIZE, AttioClient
from services.connectors.documents import SourceDocument, section
from services.connectors.errors import SourceRecordNotFound
from services.connectors.passes import Item, Page
from services.connectors.rawstore import RawTable

JsonObject = dict[str, Any]
DEAL_SOURCE_TYPE = "attio_deal"
# Pages that change at least this many records refresh planner statistics.
BULK_ROWS = 200
MIRROR_TABLES = ("connectors.crm_accounts", "connectors.crm_opportunities")

_COMMON = {
    "external_id": "text",
    "source_created_at": "timestamptz",
    "content_hash": "text",
    "raw": "jsonb",
}
COMPANIES = RawTable(
    "connectors.attio_accounts_raw", {**_COMMON, "name": "text", "domains": "text[]"}
)
PEOPLE = RawTable(
    "connectors.attio_people_raw",
    {**_COMMON, "name": "text", "emails": "text[]", "company_external_id": "text"},
)
DEALS = RawTable(
    "connectors.attio_opportunities_raw",
    {
        **_COMMON,
        "name": "text",
        "stage": "text",
        "amount": "numeric",
        "currency": "text",
        "owner_ref": "text",
        "company_external_id": "text",
        "people_external_ids": "text[]",
    },
)


class ObjectEntity:
    """The records of one Attio object, walked by creation time."""

    always_full = True

    def __init__(
        self,
        client: AttioClient,
        project_id: str,
        *,
        name: str,
        table: RawTable,
        to_row: Callable[[JsonObject], dict[str, Any]],
    ) -> None:
        self.name = name
        self._client = client
        self._project_id = project_id
        self._table = table
        self._to_row = to_row

    def first_position(self, since: datetime | None) -> dict[str, Any]:
        return {"from": None, "skip": []}

    async def fetch(self, position: dict[str, Any]) -> Page:
        start, skip = position["from"], list(position["skip"])
        try:
            page = await self._client.query_page(self.name, start, len(skip), PAGE_SIZE)
        except SourceRecordNotFound:
            # Deals are disabled in some workspaces: the object is absent, not broken.
            return Page([], None)
        fresh = [r for r in page if records.record_id(r) not in skip]
        if len(page) < PAGE_SIZE:
            return Page(fresh, None)
        last = str(page[-1].get("created_at") or "")
        at_last = [records.record_id(r) for r in page if r.get("created_at") == last]
        following = {"from": last, "skip": (skip if last == start else []) + at_last}
        return Page(fresh, following)

    async def fetch_ids(self, external_ids: list[str]) -> list[JsonObject]:
        found = []
        for key in external_ids:
            record = await self._client.get_record(self.name, key)
            if record is not None:
                found.append(record)
        return found

    def to_row(self, record: JsonObject) -> dict[str, Any]:
        return self._to_row(record)

    async def write(
        self, conn: Connection, items: list[Item], seen_pass: str | None
    ) -> dict[str, int]:
        rows = [row for _, row in items]
        written = await self._table.upsert(conn, self._project_id, rows, seen_pass)
        ids = [row["external_id"] for row in rows]
        # A pass brings the mirror up to date for what changed. Fetching named
        # records (a targeted sync, a repair) also rebuilds their mirror rows
        # when the record itself is unchanged, because that is why they are
        # asked for.
        changed = written if seen_pass else ids
        counts = await after_write(conn, self._project_id, self.name, changed)
        return {
            f"{self.name}_seen": len(rows),
            f"{self.name}_written": len(written),
            **counts,
        }

    async def delete_unseen(self, conn: Connection, seen_pass: str) -> int:
        deleted = await self._table.delete_unseen(conn, self._project_id, seen_pass)
        await after_write(conn, self._project_id, self.name, deleted)
        return len(deleted)

    async def delete_ids(self, conn: Connection, external_ids: list[str]) -> int:
        deleted = await self._table.delete_ids(conn, self._project_id, external_ids)
        await after_write(conn, self._project_id, self.name, deleted)
        return len(deleted)


async def after_write(
    conn: Connection, project_id: str, object_slug: str, changed: list[str]
) -> dict[str, int]:
    """Update the mirror and the deal documents after records of an object changed."""
    if not changed:
        return {}
    if len(changed) >= BULK_ROWS:
        await refresh_statistics(conn)
    mirrored = 0
    if object_slug == "companies":
        mirrored += await crm.mirror_accounts(conn, project_id, changed)
        mirrored += await crm.mirror_opportunities(conn, project_id, [], changed)
    elif object_slug == "deals":
        mirrored += await crm.mirror_opportunities(conn, project_id, changed, [])
    if object_slug == "deals":
        # Every changed deal has its raw row, written or marked deleted.
        deal_ids = changed
    else:
        deal_ids = await _deals_of(conn, project_id, object_slug, changed)
    return {
        "mirror_rows_written": mirrored,
        **await render_deals(conn, project_id, deal_ids),
    }


async def _deals_of(
    conn: Connection, project_id: str, object_slug: str, changed: list[str]
) -> list[str]:
    """Return the ids of the deals that reference the changed companies or people."""
    if object_slug == "companies":
        match = "company_external_id = ANY($2::text[])"
    else:
        match = "people_external_ids && $2::text[]"
    rows = await conn.fetch(
        "SELECT external_id FROM connectors.attio_opportunities_raw"
        f" WHERE project_id = $1 AND {match}",
        uuid.UUID(project_id),
        changed,
    )
    return [row["external_id"] for row in rows]


async def refresh_statistics(conn: Connection) -> None:
    """Analyze the mirror tables that have more than doubled since last analyzed.

    A first sync fills them page by page, much faster than autovacuum
    analyzes them, and statistics of a nearly empty table turn the mirror
    joins into full scans. Analyzing on doubling keeps the estimates within a
    factor of two at a logarithmic number of analyzes.
    """
    grown = await conn.fetch(
        "SELECT c.oid::regclass::text AS name FROM pg_class c"
        " WHERE c.oid = ANY($1::regclass[]) AND pg_relation_size(c.oid)"
        " > 2 * greatest(c.relpages, 1) * current_setting('block_size')::bigint",
        list(MIRROR_TABLES),
    )
    if grown:
        await conn.execute(f"ANALYZE {', '.join(row['name'] for row in grown)}")


async def render_deals(
    conn: Connection, project_id: str, deal_ids: list[str]
) -> dict[str, int]:
    """Save the documents of these deals, or tombstones for deleted ones."""
    rows = await conn.fetch(
        "SELECT o.external_id, o.name, o.stage, o.amount, o.currency, o.deleted_at,"
        " o.raw ->> 'web_url' AS url, o.raw ->> 'created_at' AS created_at,"
        " c.name AS company, coalesce((SELECT string_agg(p.name, ', ' ORDER BY p.name)"
        " FROM connectors.attio_people_raw p WHERE p.project_id = o.project_id"
        " AND p.external_id = ANY(o.people_external_ids)"
        " AND p.deleted_at IS NULL), '') AS people"
        " FROM connectors.attio_opportunities_raw o"
        " LEFT JOIN connectors.attio_accounts_raw c ON c.project_id = o.project_id"
        " AND c.external_id = o.company_external_id AND c.deleted_at IS NULL"
        " WHERE o.project_id = $1 AND o.external_id = ANY($2::text[])",
        uuid.UUID(project_id),
        deal_ids,
    )
    deleted = [row["external_id"] for row in rows if row["deleted_at"] is not None]
    live = [_deal_document(row) for row in rows if row["deleted_at"] is None]
    changed = await documents.save(conn, project_id, live)
    changed += await documents.tombstone(conn, project_id, DEAL_SOURCE_TYPE, deleted)
    return {"documents_changed": changed}


def _deal_document(row: Any) -> SourceDocument:
    value = (
        f"{row['amount']} {row['currency'] or ''}".strip()
        if row["amount"]
        else "not set"
    )
    text = (
        f"Deal {row['name']} with {row['company'] or 'no company'}."
        f" Stage: {row['stage'] or 'unknown'}. Value: {value}."
        f" People: {row['people'] or 'none'}."
    )
    created = records.parse_time(row["created_at"])
    return SourceDocument(
        source_type=DEAL_SOURCE_TYPE,
        external_id=row["external_id"],
        title=str(row["name"]),
        url=str(row["url"] or ""),
        updated_at=created or datetime.fromtimestamp(0).astimezone(),
        sections=[section("summary", "author", "", text, created)],
        metadata={
            "company": str(row["company"] or ""),
            "stage": str(row["stage"] or ""),
        },
    )


def entities(client: AttioClient, project_id: str) -> list[ObjectEntity]:
    """Return the Attio objects in sync order, companies before their deals."""
    return [
        ObjectEntity(
            client,
            project_id,
            name="companies",
            table=COMPANIES,
            to_row=records.company_row,
        ),
        ObjectEntity(
            client, project_id, name="people", table=PEOPLE, to_row=records.person_row
        ),
        ObjectEntity(
            client, project_id, name="deals", table=DEALS, to_row=records.deal_row
        ),
    ]
