"""Looking up one source record in the raw tables and the CRM mirror."""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from services.common.database import Connection
from services.connectors.crm import SOURCE_SYSTEM
from services.connectors.errors import SourceRecordMissing
from services.connectors.external_ids import shown

# Raw tables searched per connector, in order, with the column matched besides
# external_id and the mirror table of the rows found there.
RAW_TABLES: dict[str, list[tuple[str, str | None, str | None]]] = {
    "chatwoot": [("cw_conversations", None, None), ("cw_contacts", None, None)],
    "linear": [
        ("linear_issues_raw", "identifier", None),
        ("linear_cycles_raw", None, None),
    ],
    "attio": [
        ("attio_opportunities_raw", None, "crm_opportunities"),
        ("attio_accounts_raw", None, "crm_accounts"),
        ("attio_people_raw", None, None),
    ],
}


MIRROR_TABLES = {"attio": ("crm_opportunities", "crm_accounts")}


@dataclass(frozen=True)
class FoundRecord:
    # The raw table, empty when only a mirror row exists.
    table: str
    raw: dict[str, Any] | None
    mirror: dict[str, Any] | None


async def find_record(
    conn: Connection, project_id: str, connector: str, external_id: str
) -> FoundRecord:
    """Return the raw row of a record, with its mirror row when it has one."""
    project = uuid.UUID(project_id)
    for table, alternate, mirror_table in RAW_TABLES[connector]:
        match = f" OR {alternate} = $2" if alternate else ""
        row = await conn.fetchrow(
            f"SELECT * FROM connectors.{table} WHERE project_id = $1"
            f" AND (external_id = $2{match}) LIMIT 1",
            project,
            external_id,
        )
        if row is None:
            continue
        mirror = None
        if mirror_table:
            mirror_row = await conn.fetchrow(
                f"SELECT * FROM connectors.{mirror_table} WHERE project_id = $1"
                " AND source_system = $2 AND external_ref = $3",
                project,
                SOURCE_SYSTEM,
                row["external_id"],
            )
            mirror = _plain(mirror_row) if mirror_row else None
        return FoundRecord(table, _plain(row), mirror)
    # A mirror row whose raw row is gone is what runbook checks look for.
    for mirror_table in MIRROR_TABLES.get(connector, ()):
        mirror_row = await conn.fetchrow(
            f"SELECT * FROM connectors.{mirror_table} WHERE project_id = $1"
            " AND source_system = $2 AND external_ref = $3",
            project,
            SOURCE_SYSTEM,
            external_id,
        )
        if mirror_row is not None:
            return FoundRecord("", None, _plain(mirror_row))
    raise SourceRecordMissing(
        f"no {connector} record {shown(external_id)} in the raw tables of this project"
    )


def _plain(row: Any) -> dict[str, Any]:
    plain = {}
    for key, value in dict(row).items():
        if key == "project_id":
            continue
        if key == "raw" and isinstance(value, str):
            value = json.loads(value)
        plain[key] = value
    return plain
