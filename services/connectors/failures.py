"""The connector_errors table: failed pages and records, their retries and dead letters.

A failure is recorded against a page walk of an entity (target '') or one
record (target = its external id). Transient kinds get a retry time from
exponential backoff with full jitter. Permanent kinds (a rejected token, an
invalid record) wait for an operator, because repeating them cannot help.
After `max_attempts` an error becomes a dead letter. A later success over the
same page walk or record resolves it, whichever run achieves it.
"""

import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.common.database import Connection

PERMANENT_KINDS = frozenset({"authentication", "invalid_record"})
OPEN_STATUSES = ("pending", "retrying", "dead_letter")
STATUSES = (*OPEN_STATUSES, "resolved")


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    max_attempts: int = 5

    def delay(self, attempts: int) -> float:
        """Seconds before the retry after `attempts` failures, with full jitter."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class ConnectorFailure:
    id: int
    project_id: str
    connector: str
    entity: str
    target: str
    position: dict[str, Any]
    kind: str
    status: str
    message: str
    attempts: int
    next_retry_at: datetime | None
    run_id: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


def _from_row(row: asyncpg.Record) -> ConnectorFailure:
    return ConnectorFailure(
        id=row["id"],
        project_id=str(row["project_id"]),
        connector=row["connector"],
        entity=row["entity"],
        target=row["target"],
        position=json.loads(row["position"]),
        kind=row["kind"],
        status=row["status"],
        message=row["message"],
        attempts=row["attempts"],
        next_retry_at=row["next_retry_at"],
        run_id=str(row["run_id"]) if row["run_id"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        resolved_at=row["resolved_at"],
    )


async def record(
    conn: Connection,
    backoff: Backoff,
    *,
    project_id: str,
    connector: str,
    entity: str,
    target: str,
    position: dict[str, Any],
    kind: str,
    message: str,
    run_id: str,
) -> ConnectorFailure:
    """Record a failure, or count one more attempt of the open error it repeats."""
    existing = await conn.fetchval(
        "SELECT attempts FROM connectors.connector_errors WHERE project_id = $1"
        " AND connector = $2 AND entity = $3 AND target = $4 AND status <> 'resolved'",
        uuid.UUID(project_id),
        connector,
        entity,
        target,
    )
    attempts = (existing or 0) + 1
    status, delay = _next_step(backoff, kind, attempts)
    row = await conn.fetchrow(
        "INSERT INTO connectors.connector_errors AS e (project_id, connector, entity,"
        " target, position, kind, status, message, attempts, next_retry_at, run_id)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9,"
        " now() + make_interval(secs => $10), $11)"
        " ON CONFLICT (project_id, connector, entity, target)"
        " WHERE status <> 'resolved' DO UPDATE SET position = EXCLUDED.position,"
        " kind = EXCLUDED.kind, status = EXCLUDED.status, message = EXCLUDED.message,"
        " attempts = EXCLUDED.attempts, next_retry_at = EXCLUDED.next_retry_at,"
        " run_id = EXCLUDED.run_id, updated_at = now() RETURNING *",
        uuid.UUID(project_id),
        connector,
        entity,
        target,
        json.dumps(position),
        kind,
        status,
        message[:2000],
        attempts,
        delay,
        uuid.UUID(run_id),
    )
    assert row is not None
    return _from_row(row)


def _next_step(backoff: Backoff, kind: str, attempts: int) -> tuple[str, float | None]:
    """Return the status after a failure and the delay before its automatic retry."""
    if attempts >= backoff.max_attempts:
        return "dead_letter", None
    if kind in PERMANENT_KINDS:
        return "pending", None
    return ("pending" if attempts == 1 else "retrying"), backoff.delay(attempts)


async def resolve(
    conn: Connection,
    project_id: str,
    connector: str,
    entity: str,
    targets: list[str],
) -> int:
    """Resolve the open errors of targets that now succeeded; return how many."""
    result = await conn.execute(
        "UPDATE connectors.connector_errors SET status = 'resolved',"
        " resolved_at = now(), updated_at = now(), next_retry_at = NULL"
        " WHERE project_id = $1 AND connector = $2 AND entity = $3"
        " AND target = ANY($4::text[]) AND status <> 'resolved'",
        uuid.UUID(project_id),
        connector,
        entity,
        targets,
    )
    return int(result.split()[-1])


async def list_errors(
    conn: Connection,
    project_id: str,
    *,
    connector: str | None,
    status: str | None,
    limit: int,
    before_id: int | None,
) -> list[ConnectorFailure]:
    """Return the project's errors, newest first, optionally filtered."""
    rows = await conn.fetch(
        "SELECT * FROM connectors.connector_errors WHERE project_id = $1"
        " AND ($2::text IS NULL OR connector = $2)"
        " AND ($3::text IS NULL OR status = $3)"
        " AND ($4::bigint IS NULL OR id < $4)"
        " ORDER BY id DESC LIMIT $5",
        uuid.UUID(project_id),
        connector,
        status,
        before_id,
        limit,
    )
    return [_from_row(row) for row in rows]


async def due_errors(
    conn: Connection, project_id: str, connector: str
) -> list[ConnectorFailure]:
    """Return the errors whose retry time has come."""
    rows = await conn.fetch(
        "SELECT * FROM connectors.connector_errors WHERE project_id = $1"
        " AND connector = $2 AND status IN ('pending', 'retrying')"
        " AND next_retry_at <= now() ORDER BY id",
        uuid.UUID(project_id),
        connector,
    )
    return [_from_row(row) for row in rows]


async def projects_with_due_errors(conn: Connection) -> list[tuple[str, str]]:
    """Return (project, connector) pairs with errors whose retry time has come."""
    rows = await conn.fetch(
        "SELECT DISTINCT project_id, connector FROM connectors.connector_errors"
        " WHERE status IN ('pending', 'retrying') AND next_retry_at <= now()"
    )
    return [(str(row["project_id"]), row["connector"]) for row in rows]


async def make_due(conn: Connection, project_id: str, connector: str | None) -> int:
    """Make every waiting error due now, permanent ones included; return how many.

    An operator does this after fixing what made them fail (a token, a quota).
    """
    result = await conn.execute(
        "UPDATE connectors.connector_errors SET next_retry_at = now(),"
        " updated_at = now() WHERE project_id = $1"
        " AND ($2::text IS NULL OR connector = $2)"
        " AND status IN ('pending', 'retrying')",
        uuid.UUID(project_id),
        connector,
    )
    return int(result.split()[-1])


async def count_dead_letters(
    conn: Connection, project_id: str, connector: str | None
) -> int:
    """Count the project's dead letters, of one connector or of all."""
    value = await conn.fetchval(
        "SELECT count(*) FROM connectors.connector_errors WHERE project_id = $1"
        " AND ($2::text IS NULL OR connector = $2) AND status = 'dead_letter'",
        uuid.UUID(project_id),
        connector,
    )
    return int(value)


async def waiting_connectors(conn: Connection, project_id: str) -> list[str]:
    """Return the connectors of the project with errors waiting for a retry."""
    rows = await conn.fetch(
        "SELECT DISTINCT connector FROM connectors.connector_errors"
        " WHERE project_id = $1 AND status IN ('pending', 'retrying')",
        uuid.UUID(project_id),
    )
    return [row["connector"] for row in rows]


async def requeue(
    conn: Connection, project_id: str, error_id: int
) -> ConnectorFailure | None:
    """Put an open error back in the queue with fresh attempts, due now."""
    row = await conn.fetchrow(
        "UPDATE connectors.connector_errors SET status = 'pending', attempts = 0,"
        " next_retry_at = now(), updated_at = now()"
        " WHERE project_id = $1 AND id = $2 AND status <> 'resolved' RETURNING *",
        uuid.UUID(project_id),
        error_id,
    )
    return _from_row(row) if row else None


async def get_error(
    conn: Connection, project_id: str, error_id: int
) -> ConnectorFailure | None:
    row = await conn.fetchrow(
        "SELECT * FROM connectors.connector_errors WHERE project_id = $1 AND id = $2",
        uuid.UUID(project_id),
        error_id,
    )
    return _from_row(row) if row else None
