"""Page-by-page passes over one entity of a source, resumable after a crash.

A pass walks an entity from a start position to its last page. Pages are
written in batches of at least WRITE_BATCH_RECORDS records (a page larger
than that alone), each batch in one transaction together with the position
of the page after it, so a crash resumes the pass where it stopped and the
idempotent upserts absorb the batch that was in flight. Small API pages
(Linear serves 50 issues) would otherwise pay a transaction and its fixed
statements for every few records. When the last page is written, the pass start time
becomes the entity's watermark. The next incremental pass requests records
changed since that watermark less an overlap, so records sharing a boundary
timestamp or changing during the walk are read again rather than skipped.

A full pass also stamps every record it reads, and afterwards marks the local
records it did not read as deleted, because the source no longer has them.

A page that cannot be fetched, after the HTTP retries, stops the pass and is
recorded in connector_errors with its position; the cursor stays where it
was. A record that cannot be read is recorded on its own and skipped.
"""

import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
import structlog

from services.common import errors
from services.common.database import Connection
from services.connectors import failures
from services.connectors.errors import SourceAuthenticationFailed, SourceError

log = structlog.get_logger(__name__)

JsonObject = dict[str, Any]
# A source record and the raw-table row built from it.
Item = tuple[JsonObject, dict[str, Any]]
Progress = Callable[[dict[str, int]], Awaitable[None]]
# Records written per transaction when the source's pages are smaller.
WRITE_BATCH_RECORDS = 500


@dataclass(frozen=True)
class Page:
    records: list[JsonObject]
    # Position of the following page; None after the last page.
    next_position: dict[str, Any] | None


@dataclass(frozen=True)
class PassInfo:
    id: str
    started_at: datetime
    full: bool


class InvalidRecord(Exception):
    """A source record lacks what the sync needs; it is skipped and recorded."""

    def __init__(self, external_id: str, reason: str) -> None:
        super().__init__(reason)
        self.external_id = external_id
        self.reason = reason


class Entity(Protocol):
    """One kind of record of a source, as run_pass uses it."""

    name: str
    # True when the source cannot list changes since a time, so every pass is full.
    always_full: bool

    def first_position(self, since: datetime | None) -> dict[str, Any]: ...

    async def fetch(self, position: dict[str, Any]) -> Page: ...

    async def fetch_ids(self, external_ids: list[str]) -> list[JsonObject]: ...

    def to_row(self, record: JsonObject) -> dict[str, Any]:
        """Build the raw-table row of a record, or raise InvalidRecord."""
        ...

    async def write(
        self, conn: Connection, items: list[Item], seen_pass: str | None
    ) -> dict[str, int]:
        """Store records with the rows to_row built for them."""
        ...

    async def delete_unseen(self, conn: Connection, seen_pass: str) -> int: ...

    async def delete_ids(self, conn: Connection, external_ids: list[str]) -> int: ...


@dataclass
class SyncContext:
    pool: asyncpg.Pool
    project_id: str
    connector: str
    run_id: str
    overlap: timedelta
    backoff: failures.Backoff
    progress: Progress
    counts: Counter[str] = field(default_factory=Counter)

    async def report(self) -> None:
        await self.progress(dict(self.counts))


class PassFailed(Exception):
    """A page of the pass could not be fetched; the error is recorded."""


class SyncIncomplete(errors.Aborted):
    code = "sync_incomplete"


async def run_entities(
    ctx: SyncContext,
    entities: list[Entity],
    mode: str,
    external_ids: list[str],
    *,
    catch_up: tuple[str, ...] = (),
) -> None:
    """Run one sync over the entities in order, in the given mode.

    A failed pass does not stop the passes of the other entities; the run then
    ends with SyncIncomplete, and the failed pages wait in connector_errors.
    Entities named in catch_up get a second, incremental pass at once, which
    reads again the records that changed while the first pass ran.
    """
    if mode == "targeted":
        for entity in entities:
            await sync_ids(ctx, entity, external_ids)
        return
    if mode == "retry":
        await retry_due(ctx, entities)
        return
    failed = []
    for entity in entities:
        try:
            await run_pass(ctx, entity, full=mode == "full")
            if entity.name in catch_up:
                await run_pass(ctx, entity, full=False)
        except PassFailed:
            failed.append(entity.name)
    if failed:
        raise SyncIncomplete(
            f"pages of {', '.join(failed)} failed; they are recorded in"
            " connector_errors and retried from where they stopped"
        )


async def retry_due(ctx: SyncContext, entities: list[Entity]) -> None:
    """Retry the errors that are due: resume failed passes, fetch failed records."""
    async with ctx.pool.acquire() as conn:
        due = await failures.due_errors(conn, ctx.project_id, ctx.connector)
    by_name = {entity.name: entity for entity in entities}
    failed = 0
    for name in sorted({f.entity for f in due if not f.target} & set(by_name)):
        try:
            await run_pass(ctx, by_name[name], full=False)
        except PassFailed:
            failed += 1
    targets: dict[str, list[str]] = {}
    for failure in due:
        if failure.target and failure.entity in by_name:
            targets.setdefault(failure.entity, []).append(failure.target)
    for name, ids in targets.items():
        try:
            await sync_ids(ctx, by_name[name], ids)
        except SourceError as exc:
            failed += 1
            await _record_targets(ctx, name, ids, exc)
    ctx.counts["errors_retried"] += len(due)
    if failed:
        raise SyncIncomplete(f"{failed} of the retried items failed again")


async def _record_targets(
    ctx: SyncContext, entity: str, ids: list[str], exc: SourceError
) -> None:
    async with ctx.pool.acquire() as conn, conn.transaction():
        for key in ids:
            await failures.record(
                conn,
                ctx.backoff,
                project_id=ctx.project_id,
                connector=ctx.connector,
                entity=entity,
                target=key,
                position={},
                kind=exc.kind,
                message=exc.message,
                run_id=ctx.run_id,
            )


async def run_pass(ctx: SyncContext, entity: Entity, *, full: bool) -> None:
    """Walk the entity to its end, resuming a pass a crash left unfinished."""
    async with ctx.pool.acquire() as conn:
        state = await load_state(conn, ctx, entity.name)
    current = state.get("pass")
    if current is None or (full and not current["full"]):
        watermark = state.get("watermark")
        since = None
        if watermark and not full and not entity.always_full:
            since = datetime.fromisoformat(watermark) - ctx.overlap
        current = {
            "id": uuid.uuid4().hex,
            "started_at": datetime.now(UTC).isoformat(),
            "full": since is None,
            "position": entity.first_position(since),
        }
    position: dict[str, Any] | None = current["position"]
    batch: list[JsonObject] = []
    while position is not None:
        try:
            page = await _fetch(ctx, entity, position)
        except (PassFailed, SourceError):
            # The pages read before the failed one are kept, and the pass
            # resumes at the failed page.
            if batch:
                await _write_batch(ctx, entity, batch, current, state, position)
            raise
        batch += page.records
        position = page.next_position
        if position is None or len(batch) >= WRITE_BATCH_RECORDS:
            await _write_batch(ctx, entity, batch, current, state, position)
            batch = []


async def _write_batch(
    ctx: SyncContext,
    entity: Entity,
    records: list[JsonObject],
    current: dict[str, Any],
    state: dict[str, Any],
    position: dict[str, Any] | None,
) -> None:
    """Write records and the position after them, or finish the pass at the end."""
    async with ctx.pool.acquire() as conn, conn.transaction():
        seen = current["id"] if current["full"] else None
        await write_records(ctx, conn, entity, records, seen)
        if position is None:
            await _finish(ctx, conn, entity, current, state)
        else:
            current["position"] = position
            await save_state(conn, ctx, entity.name, {**state, "pass": current})
    await ctx.report()


async def _fetch(ctx: SyncContext, entity: Entity, position: dict[str, Any]) -> Page:
    try:
        return await entity.fetch(position)
    except SourceError as exc:
        async with ctx.pool.acquire() as conn:
            await failures.record(
                conn,
                ctx.backoff,
                project_id=ctx.project_id,
                connector=ctx.connector,
                entity=entity.name,
                target="",
                position=position,
                kind=exc.kind,
                message=exc.message,
                run_id=ctx.run_id,
            )
        ctx.counts["pages_failed"] += 1
        log.warning(
            "sync.page_failed",
            connector=ctx.connector,
            entity=entity.name,
            error=exc.message,
            run_id=ctx.run_id,
        )
        if isinstance(exc, SourceAuthenticationFailed):
            raise
        raise PassFailed(exc.message) from exc


async def _finish(
    ctx: SyncContext,
    conn: Connection,
    entity: Entity,
    current: dict[str, Any],
    state: dict[str, Any],
) -> None:
    if current["full"]:
        ctx.counts[f"{entity.name}_deleted"] += await entity.delete_unseen(
            conn, current["id"]
        )
    await failures.resolve(conn, ctx.project_id, ctx.connector, entity.name, [""])
    finished = {**state, "watermark": current["started_at"], "pass": None}
    await save_state(conn, ctx, entity.name, finished)


async def write_records(
    ctx: SyncContext,
    conn: Connection,
    entity: Entity,
    records: list[JsonObject],
    seen_pass: str | None,
) -> None:
    """Write one page, recording each invalid record instead of failing the page."""
    items = []
    for record in records:
        try:
            items.append((record, entity.to_row(record)))
        except InvalidRecord as exc:
            await _record_invalid(ctx, conn, entity, exc)
    ctx.counts.update(await entity.write(conn, items, seen_pass))
    keys = [row["external_id"] for _, row in items]
    await failures.resolve(conn, ctx.project_id, ctx.connector, entity.name, keys)


def record_key(record: JsonObject) -> str:
    """Return the external id of a Linear or Attio record."""
    key = record.get("id")
    if isinstance(key, dict):
        key = key.get("record_id")
    return str(key or "")


async def _record_invalid(
    ctx: SyncContext, conn: Connection, entity: Entity, exc: InvalidRecord
) -> None:
    ctx.counts["records_invalid"] += 1
    await failures.record(
        conn,
        ctx.backoff,
        project_id=ctx.project_id,
        connector=ctx.connector,
        entity=entity.name,
        target=exc.external_id,
        position={},
        kind="invalid_record",
        message=exc.reason,
        run_id=ctx.run_id,
    )


async def sync_ids(ctx: SyncContext, entity: Entity, external_ids: list[str]) -> None:
    """Fetch and write the given records; ids the source lacks are marked deleted."""
    found = await entity.fetch_ids(external_ids)
    missing = sorted(set(external_ids) - {record_key(r) for r in found})
    async with ctx.pool.acquire() as conn, conn.transaction():
        await write_records(ctx, conn, entity, found, None)
        if missing:
            ctx.counts[f"{entity.name}_deleted"] += await entity.delete_ids(
                conn, missing
            )
            await failures.resolve(
                conn, ctx.project_id, ctx.connector, entity.name, missing
            )
    await ctx.report()


async def load_state(conn: Connection, ctx: SyncContext, entity: str) -> dict[str, Any]:
    value = await conn.fetchval(
        "SELECT cursor -> $3 FROM connectors.connector_sync_state"
        " WHERE project_id = $1 AND connector = $2",
        uuid.UUID(ctx.project_id),
        ctx.connector,
        entity,
    )
    return dict(json.loads(value)) if value else {}


async def save_state(
    conn: Connection, ctx: SyncContext, entity: str, state: dict[str, Any]
) -> None:
    """Save an entity's cursor; call inside the transaction of the data it covers."""
    await conn.execute(
        "INSERT INTO connectors.connector_sync_state AS s (project_id, connector,"
        " cursor) VALUES ($1, $2, jsonb_build_object($3::text, $4::jsonb))"
        " ON CONFLICT (project_id, connector) DO UPDATE SET"
        " cursor = s.cursor || jsonb_build_object($3::text, $4::jsonb),"
        " updated_at = now()",
        uuid.UUID(ctx.project_id),
        ctx.connector,
        entity,
        json.dumps(state),
    )
