"""Entries of the id listings and the local queries that read them.

Both sides of a listing build every entry with the same function from a row
that has the raw table's column names: the source side from the row the
sync's own `to_row` builds, the local side from the stored row.
"""

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from services.connectors import crm
from services.connectors.chatwoot import records as chatwoot_records


class Row(Protocol):
    """A raw-table row: a dict built by the sync or an asyncpg record."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclasses.dataclass(frozen=True)
class IdEntry:
    """One record of an entity as reconciliation compares it."""

    external_id: str
    # The content hash where the source has no update time (Attio records,
    # Chatwoot contacts); a mirror row's source_hash; else empty.
    version: str = ""
    # The source's update time (Linear issues, Chatwoot conversations).
    updated_at: datetime | None = None
    # Lower-case addresses of Chatwoot contacts and Attio people.
    emails: tuple[str, ...] = ()
    # A person's or deal's company, a message's conversation; a mirror deal's
    # company is the external_ref of the crm_accounts row it points at.
    parent: str = ""
    # A Linear issue with archived_at set.
    archived: bool = False
    # A local row with deleted_at set. cw_contacts and cw_messages have no
    # deleted_at, so their rows are never flagged.
    deleted: bool = False


EntryOf = Callable[[Row], IdEntry]


def _linear_issue(row: Row) -> IdEntry:
    return IdEntry(
        row["external_id"],
        updated_at=row["source_updated_at"],
        archived=row["archived_at"] is not None,
    )


def _attio_company(row: Row) -> IdEntry:
    return IdEntry(row["external_id"], version=row["content_hash"])


def _attio_person(row: Row) -> IdEntry:
    return IdEntry(
        row["external_id"],
        version=row["content_hash"],
        emails=tuple(row["emails"]),
        parent=row["company_external_id"] or "",
    )


def _attio_deal(row: Row) -> IdEntry:
    return IdEntry(
        row["external_id"],
        version=row["content_hash"],
        parent=row["company_external_id"] or "",
    )


def _chatwoot_contact(row: Row) -> IdEntry:
    email = row["email"]
    return IdEntry(
        row["external_id"],
        version=row["content_hash"],
        emails=(str(email).lower(),) if email else (),
    )


def _chatwoot_conversation(row: Row) -> IdEntry:
    # Both sides hold the same float, and Chatwoot's 0 (unset) becomes None.
    return IdEntry(
        row["external_id"],
        updated_at=chatwoot_records.timestamp(row["source_updated_at"]),
    )


def _chatwoot_message(row: Row) -> IdEntry:
    return IdEntry(row["external_id"], parent=row["conversation_external_id"])


def mirror_entry(row: Row) -> IdEntry:
    return IdEntry(
        row["external_id"], version=row["source_hash"], parent=row["parent"] or ""
    )


def flag_deleted(entry: IdEntry, deleted: bool) -> IdEntry:
    return dataclasses.replace(entry, deleted=True) if deleted else entry


RAW_ENTRIES: dict[tuple[str, str], EntryOf] = {
    ("chatwoot", "contacts"): _chatwoot_contact,
    ("chatwoot", "conversations"): _chatwoot_conversation,
    ("chatwoot", "messages"): _chatwoot_message,
    ("linear", "issues"): _linear_issue,
    ("attio", "companies"): _attio_company,
    ("attio", "people"): _attio_person,
    ("attio", "deals"): _attio_deal,
}


@dataclasses.dataclass(frozen=True)
class KeysetQuery:
    # $1 project, $2 limit.
    first: str
    # $1 project, $2 the last external_id read, $3 limit.
    next: str


def _keyset(select: str, where: str, key: str) -> KeysetQuery:
    return KeysetQuery(
        first=f"{select} WHERE {where} ORDER BY {key} LIMIT $2",
        next=f"{select} WHERE {where} AND {key} > $2 ORDER BY {key} LIMIT $3",
    )


# Columns each raw table gives its entry function, deleted_at last; tables
# without deleted_at give NULL.
_RAW_COLUMNS = {
    ("chatwoot", "contacts"): (
        "connectors.cw_contacts",
        "email, content_hash, NULL::timestamptz AS deleted_at",
    ),
    ("chatwoot", "conversations"): (
        "connectors.cw_conversations",
        "source_updated_at, deleted_at",
    ),
    ("chatwoot", "messages"): (
        "connectors.cw_messages",
        "conversation_external_id, NULL::timestamptz AS deleted_at",
    ),
    ("linear", "issues"): (
        "connectors.linear_issues_raw",
        "source_updated_at, archived_at, deleted_at",
    ),
    ("attio", "companies"): (
        "connectors.attio_accounts_raw",
        "content_hash, deleted_at",
    ),
    ("attio", "people"): (
        "connectors.attio_people_raw",
        "content_hash, emails, company_external_id, deleted_at",
    ),
    ("attio", "deals"): (
        "connectors.attio_opportunities_raw",
        "content_hash, company_external_id, deleted_at",
    ),
}


def raw_query(connector: str, entity: str) -> KeysetQuery:
    table, columns = _RAW_COLUMNS[(connector, entity)]
    return _keyset(
        f"SELECT external_id, {columns} FROM {table}",
        "project_id = $1",
        "external_id",
    )


MIRROR_QUERIES = {
    ("attio", "companies"): _keyset(
        "SELECT external_ref AS external_id, source_hash, '' AS parent, deleted_at"
        " FROM connectors.crm_accounts",
        f"project_id = $1 AND source_system = '{crm.SOURCE_SYSTEM}'",
        "external_ref",
    ),
    ("attio", "deals"): _keyset(
        "SELECT o.external_ref AS external_id, o.source_hash,"
        " a.external_ref AS parent, o.deleted_at FROM connectors.crm_opportunities o"
        " LEFT JOIN connectors.crm_accounts a ON a.id = o.account_id",
        f"o.project_id = $1 AND o.source_system = '{crm.SOURCE_SYSTEM}'",
        "o.external_ref",
    ),
}


def local_query(connector: str, entity: str, side: str) -> tuple[KeysetQuery, EntryOf]:
    """Return the keyset query of one side of an entity and its entry function."""
    if side == "mirror":
        return MIRROR_QUERIES[(connector, entity)], mirror_entry
    return raw_query(connector, entity), RAW_ENTRIES[(connector, entity)]
