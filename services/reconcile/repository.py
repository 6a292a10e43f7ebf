"""SQL for reconciliation runs and their figures."""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.common.database import Connection

PORTFOLIO = ("portfolio", "all")
_METRIC_COLUMNS = (
    "run_id, connector, entity, status, error, source_count, raw_count,"
    " mirror_count, current_count, missing_in_raw, missing_in_mirror, duplicates,"
    " orphans, stale, completeness, samples, measured_at"
)


@dataclass(frozen=True)
class MetricsRow:
    run_id: int
    connector: str
    entity: str
    status: str
    error: str | None
    source_count: int
    raw_count: int
    mirror_count: int | None
    current_count: int
    missing_in_raw: int
    missing_in_mirror: int
    duplicates: int
    orphans: int
    stale: int
    completeness: float
    samples: list[dict[str, Any]]
    measured_at: datetime

    @classmethod
    def from_record(cls, row: asyncpg.Record) -> "MetricsRow":
        values = dict(row)
        values["samples"] = json.loads(values["samples"])
        return cls(**values)


@dataclass(frozen=True)
class RunRow:
    id: int
    status: str
    repair: bool
    trace_id: str
    repairs: list[dict[str, Any]]
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class TrendRow:
    day: str
    connector: str
    entity: str
    completeness: float
    missing: int
    duplicates: int


async def try_lock(conn: Connection, project_id: str) -> bool:
    """Take the project's reconciliation lock for this connection's session."""
    return bool(
        await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended('reconcile:' || $1, 0))",
            project_id,
        )
    )


async def lock(conn: Connection, project_id: str) -> None:
    """Wait for the project's reconciliation lock and take it."""
    await conn.execute(
        "SELECT pg_advisory_lock(hashtextextended('reconcile:' || $1, 0))",
        project_id,
    )


async def unlock(conn: Connection, project_id: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_unlock(hashtextextended('reconcile:' || $1, 0))",
        project_id,
    )


async def open_run(
    conn: Connection, project_id: str, *, repair: bool, requested_by: str, trace_id: str
) -> int:
    """Close runs that were cut off and start a new one; call holding the lock."""
    project = uuid.UUID(project_id)
    cut_off = await conn.fetch(
        "UPDATE reconcile.reconciliation_runs SET status = 'abandoned',"
        " finished_at = now(), error = 'the service stopped during the run'"
        " WHERE project_id = $1 AND status = 'running' RETURNING id",
        project,
    )
    for row in cut_off:
        await clear_scratch(conn, row["id"])
    run_id = await conn.fetchval(
        "INSERT INTO reconcile.reconciliation_runs (project_id, repair, requested_by,"
        " trace_id) VALUES ($1, $2, $3, $4) RETURNING id",
        project,
        repair,
        requested_by,
        trace_id,
    )
    return int(run_id)


async def clear_scratch(conn: Connection, run_id: int) -> None:
    """Delete a run's scratch rows."""
    await conn.execute("DELETE FROM reconcile.id_snapshots WHERE run_id = $1", run_id)
    await conn.execute("DELETE FROM reconcile.findings WHERE run_id = $1", run_id)


async def finish_run(
    conn: Connection,
    run_id: int,
    status: str,
    repairs: list[dict[str, Any]],
    error: str | None = None,
) -> None:
    await conn.execute(
        "UPDATE reconcile.reconciliation_runs SET status = $2, repairs = $3::jsonb,"
        " error = $4, finished_at = now() WHERE id = $1",
        run_id,
        status,
        json.dumps(repairs),
        error,
    )


async def save_metrics(conn: Connection, project_id: str, row: MetricsRow) -> None:
    await conn.execute(
        "INSERT INTO reconcile.sync_reconciliation_metrics (project_id, run_id,"
        " connector, entity, status, error, source_count, raw_count, mirror_count,"
        " current_count, missing_in_raw, missing_in_mirror, duplicates, orphans,"
        " stale, completeness, samples, measured_at) VALUES ($1, $2, $3, $4, $5,"
        " $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17::jsonb, $18)",
        uuid.UUID(project_id),
        row.run_id,
        row.connector,
        row.entity,
        row.status,
        row.error,
        row.source_count,
        row.raw_count,
        row.mirror_count,
        row.current_count,
        row.missing_in_raw,
        row.missing_in_mirror,
        row.duplicates,
        row.orphans,
        row.stale,
        row.completeness,
        json.dumps(row.samples),
        row.measured_at,
    )


async def latest_metrics(conn: Connection, project_id: str) -> list[MetricsRow]:
    """Return the newest figures of each connector and entity, portfolio aside."""
    rows = await conn.fetch(
        f"SELECT DISTINCT ON (connector, entity) {_METRIC_COLUMNS}"
        " FROM reconcile.sync_reconciliation_metrics"
        " WHERE project_id = $1 AND (connector, entity) <> ($2, $3)"
        " ORDER BY connector, entity, measured_at DESC, id DESC",
        uuid.UUID(project_id),
        *PORTFOLIO,
    )
    return [MetricsRow.from_record(row) for row in rows]


async def trend(conn: Connection, project_id: str, days: int) -> list[TrendRow]:
    """Return each day's last figures per connector and entity, oldest day first."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (day, connector, entity)"
        " to_char(measured_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, connector,"
        " entity, completeness, missing_in_raw + missing_in_mirror AS missing,"
        " duplicates FROM reconcile.sync_reconciliation_metrics"
        " WHERE project_id = $1 AND status = 'ok'"
        " AND measured_at >= date_trunc('day', now() AT TIME ZONE 'UTC')"
        "   AT TIME ZONE 'UTC' - make_interval(days => $2 - 1)"
        " ORDER BY day, connector, entity, measured_at DESC, id DESC",
        uuid.UUID(project_id),
        days,
    )
    return [TrendRow(**dict(row)) for row in rows]


async def get_run(
    conn: Connection, project_id: str, run_id: int | None
) -> RunRow | None:
    """Return a run of the project, or its latest run when run_id is None."""
    scope = "" if run_id is None else " AND id = $2"
    arguments = [] if run_id is None else [run_id]
    row = await conn.fetchrow(
        "SELECT id, status, repair, trace_id, repairs, started_at, finished_at"
        " FROM reconcile.reconciliation_runs WHERE project_id = $1"
        f"{scope} ORDER BY id DESC LIMIT 1",
        uuid.UUID(project_id),
        *arguments,
    )
    if row is None:
        return None
    values = dict(row)
    values["repairs"] = json.loads(values["repairs"])
    return RunRow(**values)
