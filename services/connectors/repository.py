"""SQL for sync runs, connector state and the change feed."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from services.common.database import Connection

STALE_RUN_ERROR = "lease expired: the process running this sync stopped"


@dataclass(frozen=True)
class SyncRun:
    id: str
    project_id: str
    connector: str
    mode: str
    status: str
    lease_holder: str
    lease_expires_at: datetime
    heartbeat_at: datetime
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    error: str | None
    external_ids: list[str] = field(default_factory=list)
    already_running: bool = False


@dataclass(frozen=True)
class ConnectorState:
    connector: str
    cursor: dict[str, Any]
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    retry_count: int
    last_run_id: str | None
    running: SyncRun | None


def _run_from(row: asyncpg.Record, *, already_running: bool = False) -> SyncRun:
    return SyncRun(
        id=str(row["id"]),
        project_id=str(row["project_id"]),
        connector=row["connector"],
        mode=row["mode"],
        status=row["status"],
        lease_holder=row["lease_holder"],
        lease_expires_at=row["lease_expires_at"],
        heartbeat_at=row["heartbeat_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        counts=json.loads(row["counts"]),
        error=row["error"],
        external_ids=list(row["external_ids"]),
        already_running=already_running,
    )


async def expire_stale_runs(conn: Connection, project_id: str) -> int:
    """Mark running runs whose lease expired as abandoned and record why."""
    rows = await conn.fetch(
        "UPDATE connectors.sync_runs SET status = 'abandoned', finished_at = now(),"
        " error = $2 WHERE project_id = $1 AND status = 'running'"
        " AND lease_expires_at < now() RETURNING id, connector",
        uuid.UUID(project_id),
        STALE_RUN_ERROR,
    )
    for row in rows:
        await record_failure(
            conn, project_id, row["connector"], STALE_RUN_ERROR, row["id"]
        )
    return len(rows)


async def insert_run(
    conn: Connection,
    *,
    project_id: str,
    connector: str,
    mode: str,
    external_ids: list[str],
    lease_holder: str,
    lease_seconds: float,
) -> SyncRun | None:
    """Insert a running run; return None when one is already running."""
    row = await conn.fetchrow(
        "INSERT INTO connectors.sync_runs"
        " (project_id, connector, mode, external_ids, status, lease_holder,"
        " lease_expires_at)"
        " VALUES ($1, $2, $3, $4, 'running', $5, now() + make_interval(secs => $6))"
        " ON CONFLICT (project_id, connector) WHERE status = 'running' DO NOTHING"
        " RETURNING *",
        uuid.UUID(project_id),
        connector,
        mode,
        external_ids,
        lease_holder,
        lease_seconds,
    )
    return _run_from(row) if row else None


async def get_running_run(
    conn: Connection, project_id: str, connector: str
) -> SyncRun | None:
    row = await conn.fetchrow(
        "SELECT * FROM connectors.sync_runs"
        " WHERE project_id = $1 AND connector = $2 AND status = 'running'",
        uuid.UUID(project_id),
        connector,
    )
    return _run_from(row, already_running=True) if row else None


async def get_run(
    conn: Connection, project_id: str, run_id: uuid.UUID
) -> SyncRun | None:
    row = await conn.fetchrow(
        "SELECT * FROM connectors.sync_runs WHERE project_id = $1 AND id = $2",
        uuid.UUID(project_id),
        run_id,
    )
    return _run_from(row) if row else None


async def renew_lease(
    conn: Connection,
    run_id: str,
    holder: str,
    lease_seconds: float,
    counts: dict[str, int],
) -> bool:
    """Extend a running run's lease; return False when the run is no longer ours."""
    result = await conn.execute(
        "UPDATE connectors.sync_runs SET heartbeat_at = now(),"
        " lease_expires_at = now() + make_interval(secs => $3), counts = $4::jsonb"
        " WHERE id = $1 AND lease_holder = $2 AND status = 'running'",
        uuid.UUID(run_id),
        holder,
        lease_seconds,
        json.dumps(counts),
    )
    return bool(result == "UPDATE 1")


async def finish_run(
    conn: Connection,
    run: SyncRun,
    *,
    status: str,
    counts: dict[str, int],
    error: str | None = None,
) -> bool:
    """Close a run we hold; return False when it was taken from us meanwhile."""
    result = await conn.execute(
        "UPDATE connectors.sync_runs SET status = $3, finished_at = now(), counts ="
        " $4::jsonb,"
        " error = $5 WHERE id = $1 AND lease_holder = $2 AND status = 'running'",
        uuid.UUID(run.id),
        run.lease_holder,
        status,
        json.dumps(counts),
        error,
    )
    return bool(result == "UPDATE 1")


async def load_cursor(
    conn: Connection, project_id: str, connector: str
) -> dict[str, Any]:
    value = await conn.fetchval(
        "SELECT cursor FROM connectors.connector_sync_state"
        " WHERE project_id = $1 AND connector = $2",
        uuid.UUID(project_id),
        connector,
    )
    return json.loads(value) if value else {}


async def record_success(
    conn: Connection,
    project_id: str,
    connector: str,
    cursor: dict[str, Any],
    run_id: str,
) -> None:
    """Save the cursor and the success; call inside the transaction of the last data."""
    await conn.execute(
        "INSERT INTO connectors.connector_sync_state AS s"
        " (project_id, connector, cursor, last_success_at, retry_count, last_run_id)"
        " VALUES ($1, $2, $3::jsonb, now(), 0, $4)"
        " ON CONFLICT (project_id, connector) DO UPDATE SET cursor = EXCLUDED.cursor,"
        " last_success_at = now(), retry_count = 0, last_error = NULL,"
        " last_run_id = EXCLUDED.last_run_id, updated_at = now()",
        uuid.UUID(project_id),
        connector,
        json.dumps(cursor),
        uuid.UUID(run_id),
    )


async def mark_success(
    conn: Connection, project_id: str, connector: str, run_id: str
) -> None:
    """Record a successful run of a connector whose cursor its passes saved."""
    await conn.execute(
        "INSERT INTO connectors.connector_sync_state AS s"
        " (project_id, connector, last_success_at, retry_count, last_run_id)"
        " VALUES ($1, $2, now(), 0, $3)"
        " ON CONFLICT (project_id, connector) DO UPDATE SET last_success_at = now(),"
        " retry_count = 0, last_error = NULL, last_run_id = EXCLUDED.last_run_id,"
        " updated_at = now()",
        uuid.UUID(project_id),
        connector,
        uuid.UUID(run_id),
    )


async def record_failure(
    conn: Connection,
    project_id: str,
    connector: str,
    error: str,
    run_id: uuid.UUID | str | None,
) -> None:
    """Record a failed run in the connector's state; the cursor stays where it was."""
    await conn.execute(
        "INSERT INTO connectors.connector_sync_state AS s"
        " (project_id, connector, last_error, last_error_at, retry_count, last_run_id)"
        " VALUES ($1, $2, $3, now(), 1, $4)"
        " ON CONFLICT (project_id, connector) DO UPDATE SET last_error ="
        " EXCLUDED.last_error,"
        " last_error_at = now(), retry_count = s.retry_count + 1,"
        " last_run_id = EXCLUDED.last_run_id, updated_at = now()",
        uuid.UUID(project_id),
        connector,
        error,
        uuid.UUID(str(run_id)) if run_id else None,
    )


async def list_states(conn: Connection, project_id: str) -> dict[str, ConnectorState]:
    """Return the saved state of every connector of a project, with any running run."""
    project = uuid.UUID(project_id)
    running = {
        row["connector"]: _run_from(row, already_running=True)
        for row in await conn.fetch(
            "SELECT * FROM connectors.sync_runs WHERE project_id = $1 AND status ="
            " 'running'",
            project,
        )
    }
    states = {}
    for row in await conn.fetch(
        "SELECT * FROM connectors.connector_sync_state WHERE project_id = $1", project
    ):
        states[row["connector"]] = ConnectorState(
            connector=row["connector"],
            cursor=json.loads(row["cursor"]),
            last_success_at=row["last_success_at"],
            last_error=row["last_error"],
            last_error_at=row["last_error_at"],
            retry_count=row["retry_count"],
            last_run_id=str(row["last_run_id"]) if row["last_run_id"] else None,
            running=running.get(row["connector"]),
        )
    for connector, run in running.items():
        if connector not in states:
            states[connector] = ConnectorState(
                connector, {}, None, None, None, 0, run.id, run
            )
    return states


async def allocate_sequences(
    conn: Connection, project_id: str, count: int
) -> list[int]:
    """Reserve `count` change-feed numbers for the current transaction, in order.

    Concurrency: the counter row stays locked until the transaction ends, so a
    transaction that commits later always holds higher numbers.
    """
    last = await conn.fetchval(
        "INSERT INTO connectors.change_sequences AS s (project_id, last_seq) VALUES"
        " ($1, $2)"
        " ON CONFLICT (project_id) DO UPDATE SET last_seq = s.last_seq + $2"
        " RETURNING last_seq",
        uuid.UUID(project_id),
        count,
    )
    return list(range(last - count + 1, last + 1))
