"""Id listings of one entity, from the source API or from the local tables.

Reconciliation compares the two listings entry by entry. `id_entries` defines
the fields of an entry and builds each entry the same way on both sides.
"""

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import asyncpg

from services.common.errors import InvalidArgument
from services.connectors import id_entries, sources
from services.connectors.attio import sync as attio_sync
from services.connectors.chatwoot import inventory as chatwoot_inventory
from services.connectors.http import SourceHttp
from services.connectors.id_entries import EntryOf, IdEntry
from services.connectors.linear.sync import IssuesEntity
from services.connectors.passes import Entity, InvalidRecord
from services.connectors.settings import ConnectorsSettings

SOURCE_BATCH_SIZE = 1_000
LOCAL_BATCH_SIZE = 5_000
ENTITIES = {
    "chatwoot": ("contacts", "conversations", "messages"),
    "linear": ("issues",),
    "attio": ("companies", "people", "deals"),
}
SIDES = ("raw", "mirror")


def check_entity(connector: str, entity: str) -> None:
    """Raise ConnectorNotFound or InvalidArgument unless the connector has entity."""
    sources.require_known(connector)
    if entity not in ENTITIES[connector]:
        raise InvalidArgument(
            f"unknown entity {entity!r} for {connector}."
            f" Use one of: {', '.join(ENTITIES[connector])}",
            code="unknown_entity",
        )


def check_side(connector: str, entity: str, side: str) -> None:
    """Raise InvalidArgument unless entity can be read from side ("raw" or "mirror")."""
    check_entity(connector, entity)
    if side not in SIDES:
        raise InvalidArgument(
            f"unknown side {side!r}. Use raw or mirror", code="unknown_side"
        )
    if side == "mirror" and (connector, entity) not in id_entries.MIRROR_QUERIES:
        raise InvalidArgument(
            f"{connector} {entity} have no CRM mirror. Only attio companies and"
            " deals have one, so request the raw side",
            code="mirror_not_available",
        )


async def source_entries(
    settings: ConnectorsSettings, project_id: str, connector: str, entity: str
) -> AsyncGenerator[list[IdEntry], None]:
    """Walk the source API over the whole entity, yielding at most 1,000 entries a time.

    A record that to_row rejects is still listed, by its id only. A
    SourceError stops the walk and reaches the caller. It is not recorded in
    connector_errors, because no sync failed. Linear lists issues by update
    time, so an issue edited during the walk may appear a second time, with
    its newer updated_at.
    """
    check_entity(connector, entity)
    sources.require_configured(settings, connector)
    async with sources.open_source_http(settings, connector) as http:
        entries = _source_walk(settings, http, project_id, connector, entity)
        async for batch in _batched(entries, SOURCE_BATCH_SIZE):
            yield batch


async def local_entries(
    pool: asyncpg.Pool, project_id: str, connector: str, entity: str, side: str
) -> AsyncGenerator[list[IdEntry], None]:
    """Read the raw table or the CRM mirror of an entity, 5,000 rows a batch.

    Deleted rows are included and flagged. Each batch is one keyset query on
    the table's primary or unique key, so memory stays flat whatever the
    table's size and no connection is held between batches. The batches are
    not one snapshot: a sync running meanwhile may change rows that were
    already read.
    """
    check_side(connector, entity, side)
    query, to_entry = id_entries.local_query(connector, entity, side)
    project = uuid.UUID(project_id)
    after: str | None = None
    while True:
        async with pool.acquire() as conn:
            if after is None:
                rows = await conn.fetch(query.first, project, LOCAL_BATCH_SIZE)
            else:
                rows = await conn.fetch(query.next, project, after, LOCAL_BATCH_SIZE)
        if not rows:
            return
        yield [
            id_entries.flag_deleted(to_entry(row), row["deleted_at"] is not None)
            for row in rows
        ]
        if len(rows) < LOCAL_BATCH_SIZE:
            return
        after = rows[-1]["external_id"]


# Source walks


def _source_walk(
    settings: ConnectorsSettings,
    http: SourceHttp,
    project_id: str,
    connector: str,
    entity: str,
) -> AsyncIterator[IdEntry]:
    to_entry = id_entries.RAW_ENTRIES[(connector, entity)]
    if connector == "chatwoot":
        walk = {
            "contacts": chatwoot_inventory.contact_rows,
            "conversations": chatwoot_inventory.conversation_rows,
            "messages": chatwoot_inventory.message_rows,
        }[entity]
        return _entries_of(walk(sources.chatwoot_client(settings, http)), to_entry)
    if connector == "linear":
        issues = IssuesEntity(sources.linear_client(settings, http), project_id)
        return _walk(issues, to_entry)
    objects = attio_sync.entities(sources.attio_client(settings, http), project_id)
    return _walk(next(o for o in objects if o.name == entity), to_entry)


async def _walk(entity: Entity, to_entry: EntryOf) -> AsyncIterator[IdEntry]:
    """Page through a Linear or Attio entity as a full sync pass would."""
    position: dict[str, Any] | None = entity.first_position(None)
    while position is not None:
        page = await entity.fetch(position)
        for record in page.records:
            try:
                entry = to_entry(entity.to_row(record))
            except InvalidRecord as exc:
                entry = IdEntry(exc.external_id)
            yield entry
        position = page.next_position


async def _entries_of(
    rows: AsyncIterator[dict[str, Any]], to_entry: EntryOf
) -> AsyncIterator[IdEntry]:
    async for row in rows:
        yield to_entry(row)


async def _batched(
    entries: AsyncIterator[IdEntry], size: int
) -> AsyncIterator[list[IdEntry]]:
    batch: list[IdEntry] = []
    async for entry in entries:
        batch.append(entry)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
