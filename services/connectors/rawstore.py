"""Upserts into the Linear and Attio raw tables, shared by both syncs.

Every raw table is keyed by (project_id, external_id) and has content_hash,
seen_pass, deleted_at, raw and synced_at. A row is rewritten only when its
content changed (or it comes back after a deletion), and never with an older
version of the record than the stored one when the table names a column that
orders versions.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from services.common import jsontext
from services.common.database import Connection
from services.common.text import strip_nul_json

JsonObject = dict[str, Any]


def without_nul(record: JsonObject) -> tuple[JsonObject, str]:
    """Return the record without NUL characters and its compact JSON text.

    The JSON text shows whether the record has any NUL (written as \\u0000),
    and for the records without one it is also the raw text to store.
    """
    text = jsontext.dumps(record)
    if "\\u0000" not in text:
        return record, text
    cleaned, _ = strip_nul_json(record)
    return cleaned, jsontext.dumps(cleaned)


@dataclass(frozen=True)
class RawTable:
    name: str
    # Column name -> Postgres type, external_id, content_hash and raw included.
    columns: dict[str, str]
    # A column that orders versions of a record, such as the source update time.
    newer: str | None = None

    async def upsert(
        self,
        conn: Connection,
        project_id: str,
        rows: list[dict[str, Any]],
        seen_pass: str | None = None,
    ) -> list[str]:
        """Write the rows that changed; return the external ids written.

        The stored hashes are read first, so unchanged rows are not sent:
        most rows of a full pass are unchanged, and parsing their raw JSON
        on the server cost more than the rest of the write.
        With seen_pass, every row of the page is stamped as seen by that pass:
        the written ones in the same statement, the unchanged ones after it.
        """
        if not rows:
            return []
        changed = await self._changed(conn, project_id, rows)
        written = await self._write_changed(conn, project_id, changed, seen_pass)
        if seen_pass:
            unchanged = set(row["external_id"] for row in rows) - set(written)
            await self.mark_seen(conn, project_id, sorted(unchanged), seen_pass)
        return written

    async def _changed(
        self, conn: Connection, project_id: str, rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Return the rows that are new, changed or stored as deleted."""
        stored = await conn.fetch(
            f"SELECT external_id, content_hash FROM {self.name}"
            " WHERE project_id = $1 AND external_id = ANY($2::text[])"
            " AND deleted_at IS NULL",
            uuid.UUID(project_id),
            [row["external_id"] for row in rows],
        )
        current = {row["external_id"]: row["content_hash"] for row in stored}
        return [
            row
            for row in rows
            if current.get(row["external_id"], "") != row["content_hash"]
        ]

    async def _write_changed(
        self,
        conn: Connection,
        project_id: str,
        rows: list[dict[str, Any]],
        seen_pass: str | None,
    ) -> list[str]:
        if not rows:
            return []
        names = list(self.columns)
        # unnest flattens arrays of arrays, so list columns travel as JSON.
        lists = {name for name, kind in self.columns.items() if kind.endswith("[]")}
        arrays = [
            [jsontext.dumps(row[name]) if name in lists else row[name] for row in rows]
            for name in names
        ]
        unnest = ", ".join(
            f"${i + 3}::{'jsonb' if name in lists else self.columns[name]}[]"
            for i, name in enumerate(names)
        )
        selected = ", ".join(
            f"ARRAY(SELECT jsonb_array_elements_text(u.{name}))"
            if name in lists
            else f"u.{name}"
            for name in names
        )
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names)
        newer = f" AND EXCLUDED.{self.newer} >= r.{self.newer}" if self.newer else ""
        written = await conn.fetch(
            f"INSERT INTO {self.name} AS r (project_id, seen_pass, {', '.join(names)})"
            f" SELECT $1, $2, {selected} FROM unnest({unnest})"
            f" AS u({', '.join(names)})"
            " ON CONFLICT (project_id, external_id) DO UPDATE SET"
            f" {updates}, seen_pass = coalesce(EXCLUDED.seen_pass, r.seen_pass),"
            " deleted_at = NULL, synced_at = now()"
            " WHERE (r.content_hash IS DISTINCT FROM EXCLUDED.content_hash"
            f" OR r.deleted_at IS NOT NULL){newer}"
            " RETURNING external_id",
            uuid.UUID(project_id),
            seen_pass,
            *arrays,
        )
        return [row["external_id"] for row in written]

    async def mark_seen(
        self, conn: Connection, project_id: str, ids: list[str], seen_pass: str
    ) -> None:
        """Stamp the rows a full pass saw, so the pass can find the unseen ones."""
        if not ids:
            return
        await conn.execute(
            f"UPDATE {self.name} SET seen_pass = $3"
            " WHERE project_id = $1 AND external_id = ANY($2::text[])",
            uuid.UUID(project_id),
            ids,
            seen_pass,
        )

    async def delete_unseen(
        self, conn: Connection, project_id: str, seen_pass: str
    ) -> list[str]:
        """Mark deleted the live rows a finished full pass did not see."""
        rows = await conn.fetch(
            f"UPDATE {self.name} SET deleted_at = now() WHERE project_id = $1"
            " AND deleted_at IS NULL AND seen_pass IS DISTINCT FROM $2"
            " RETURNING external_id",
            uuid.UUID(project_id),
            seen_pass,
        )
        return [row["external_id"] for row in rows]

    async def delete_ids(
        self, conn: Connection, project_id: str, ids: list[str]
    ) -> list[str]:
        """Mark deleted the live rows with these ids."""
        rows = await conn.fetch(
            f"UPDATE {self.name} SET deleted_at = now() WHERE project_id = $1"
            " AND deleted_at IS NULL AND external_id = ANY($2::text[])"
            " RETURNING external_id",
            uuid.UUID(project_id),
            ids,
        )
        return [row["external_id"] for row in rows]
