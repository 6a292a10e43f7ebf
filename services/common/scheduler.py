"""Scheduled jobs of one service, shared safely between its replicas.

Each service keeps a `scheduled_jobs` table in its own schema: one row per job
type and project (the nil project for service-wide jobs) with its cadence,
next and last run, last status and error, duration, consecutive failures and
a lease. A replica claims a due job with `FOR UPDATE SKIP LOCKED`, so two
replicas never run the same job at once. The replica renews the lease on a
heartbeat, and a job whose replica died is claimed again once the lease
expires. A
success schedules the next run one cadence later; a failure backs off
exponentially, with jitter, up to `max_backoff_seconds`.
"""

import asyncio
import json
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import structlog
from opentelemetry import trace

from services.common.database import Connection
from services.common.errors import DomainError, InvalidArgument

log = structlog.get_logger(__name__)
tracer = trace.get_tracer(__name__)

NIL_PROJECT = "00000000-0000-0000-0000-000000000000"

Progress = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class JobRow:
    id: int
    job_type: str
    project_id: str
    cadence_seconds: float
    paused: bool
    next_run_at: datetime
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_status: str | None
    last_error: str | None
    last_duration_seconds: float | None
    consecutive_failures: int
    lease_holder: str | None
    lease_expires_at: datetime | None
    progress: dict[str, Any]
    running: bool

    @property
    def status(self) -> str:
        if self.running:
            return "running"
        if self.paused:
            return "paused"
        return "failing" if self.consecutive_failures else "scheduled"


Handler = Callable[[JobRow, Progress], Awaitable[dict[str, Any] | None]]


def _job(row: asyncpg.Record) -> JobRow:
    return JobRow(
        id=row["id"],
        job_type=row["job_type"],
        project_id=str(row["project_id"]),
        cadence_seconds=row["cadence_seconds"],
        paused=row["paused"],
        next_run_at=row["next_run_at"],
        last_started_at=row["last_started_at"],
        last_finished_at=row["last_finished_at"],
        last_status=row["last_status"],
        last_error=row["last_error"],
        last_duration_seconds=row["last_duration_seconds"],
        consecutive_failures=row["consecutive_failures"],
        lease_holder=row["lease_holder"],
        lease_expires_at=row["lease_expires_at"],
        progress=json.loads(row["progress"]),
        running=row["running"],
    )


@dataclass
class Scheduler:
    """Claims and runs the due jobs of one service's table."""

    pool: asyncpg.Pool
    schema: str
    handlers: dict[str, Handler]
    tick_seconds: float = 1.0
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 10.0
    max_backoff_seconds: float = 3600.0
    holder: str = field(
        default_factory=lambda: (
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        )
    )

    @property
    def _table(self) -> str:
        return f"{self.schema}.scheduled_jobs"

    async def ensure(
        self, job_type: str, cadence_seconds: float, project_id: str = NIL_PROJECT
    ) -> None:
        """Create the job, first due one cadence from now; an existing job stays."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {self._table} (job_type, project_id, cadence_seconds,"
                " next_run_at) VALUES ($1, $2, $3, now() + make_interval(secs => $3))"
                " ON CONFLICT (job_type, project_id) DO NOTHING",
                job_type,
                uuid.UUID(project_id),
                cadence_seconds,
            )

    async def run_forever(self) -> None:
        """Claim and run due jobs until cancelled."""
        while True:
            try:
                ran = await self.run_due_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning(
                    "scheduler.claim_failed", schema=self.schema, error=repr(exc)
                )
                ran = False
            if not ran:
                await asyncio.sleep(self.tick_seconds)

    async def run_due_once(self) -> bool:
        """Claim one due job and run it; return False when none was due."""
        job = await self._claim()
        if job is None:
            return False
        await self._run(job)
        return True

    async def _claim(self) -> JobRow | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                f"UPDATE {self._table} SET lease_holder = $1,"
                " lease_expires_at = now() + make_interval(secs => $2),"
                " heartbeat_at = now(), last_started_at = now(), progress = '{}'"
                f" WHERE id = (SELECT id FROM {self._table} WHERE NOT paused"
                " AND next_run_at <= now() AND job_type = ANY($3::text[])"
                " AND (lease_expires_at IS NULL OR lease_expires_at < now())"
                " ORDER BY next_run_at FOR UPDATE SKIP LOCKED LIMIT 1)"
                " RETURNING *, true AS running",
                self.holder,
                self.lease_seconds,
                list(self.handlers),
            )
        return _job(row) if row else None

    async def _run(self, job: JobRow) -> None:
        started = time.monotonic()
        log.info(
            "scheduler.job_started", job_type=job.job_type, project_id=job.project_id
        )

        async def progress(counts: dict[str, Any]) -> None:
            latest.update(counts)

        latest: dict[str, Any] = {}
        heartbeat = asyncio.create_task(self._heartbeat(job, latest))
        error: str | None = None
        try:
            # A span per run gives the run's logs, calls and audit events one
            # trace id, as a request has.
            with tracer.start_as_current_span(
                f"job {job.job_type}",
                attributes={"job.type": job.job_type, "project.id": job.project_id},
            ):
                result = await self.handlers[job.job_type](job, progress)
            latest.update(result or {})
        except asyncio.CancelledError:
            error = "interrupted: the service shut down"
            raise
        except DomainError as exc:
            error = exc.message
        except Exception as exc:
            log.exception("scheduler.job_crashed", job_type=job.job_type)
            error = f"internal error: {type(exc).__name__}: {exc}"[:500]
        finally:
            heartbeat.cancel()
            await self._finish(job, error, time.monotonic() - started, latest)

    async def _heartbeat(self, job: JobRow, progress: dict[str, Any]) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            async with self.pool.acquire() as conn:
                await conn.execute(
                    f"UPDATE {self._table} SET heartbeat_at = now(),"
                    " lease_expires_at = now() + make_interval(secs => $3),"
                    " progress = $4::jsonb WHERE id = $1 AND lease_holder = $2",
                    job.id,
                    self.holder,
                    self.lease_seconds,
                    json.dumps(progress, default=str),
                )

    async def _finish(
        self,
        job: JobRow,
        error: str | None,
        duration: float,
        progress: dict[str, Any],
    ) -> None:
        failures = job.consecutive_failures + 1 if error else 0
        delay = job.cadence_seconds
        if error:
            ceiling = min(self.max_backoff_seconds, job.cadence_seconds * 2**failures)
            delay = random.uniform(ceiling / 2, ceiling)
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {self._table} SET lease_holder = NULL,"
                " lease_expires_at = NULL, last_finished_at = now(),"
                " last_status = $3, last_error = $4, last_duration_seconds = $5,"
                " consecutive_failures = $6, progress = $7::jsonb,"
                " next_run_at = greatest(next_run_at,"
                " now() + make_interval(secs => $8))"
                " WHERE id = $1 AND lease_holder = $2",
                job.id,
                self.holder,
                "failed" if error else "succeeded",
                error,
                duration,
                failures,
                json.dumps(progress, default=str),
                delay,
            )
        event = "scheduler.job_failed" if error else "scheduler.job_finished"
        log.info(event, job_type=job.job_type, project_id=job.project_id, error=error)

    async def list_jobs(self, conn: Connection, project_id: str | None) -> list[JobRow]:
        """Return the jobs of a project and the service-wide ones."""
        projects = [uuid.UUID(NIL_PROJECT)]
        if project_id:
            projects.append(uuid.UUID(project_id))
        rows = await conn.fetch(
            f"SELECT *, coalesce(lease_expires_at > now(), false) AS running"
            f" FROM {self._table} WHERE project_id = ANY($1::uuid[])"
            " ORDER BY job_type, project_id",
            projects,
        )
        return [_job(row) for row in rows]

    async def set_paused(
        self, conn: Connection, job_type: str, project_id: str, paused: bool
    ) -> int:
        """Pause or resume a job type for a project and service-wide; return rows."""
        self._require_known(job_type)
        result = await conn.execute(
            f"UPDATE {self._table} SET paused = $3 WHERE job_type = $1"
            " AND project_id = ANY($2::uuid[])",
            job_type,
            [uuid.UUID(project_id), uuid.UUID(NIL_PROJECT)],
            paused,
        )
        return int(result.split()[-1])

    async def trigger(self, job_type: str, project_id: str) -> None:
        """Make a project's job due now; it runs at the next tick of any replica."""
        self._require_known(job_type)
        async with self.pool.acquire() as conn:
            await conn.execute(
                f"UPDATE {self._table} SET next_run_at = now()"
                " WHERE job_type = $1 AND project_id = $2",
                job_type,
                uuid.UUID(project_id),
            )

    def _require_known(self, job_type: str) -> None:
        if job_type not in self.handlers:
            raise InvalidArgument(
                f"unknown job type {job_type!r}; this service runs"
                f" {', '.join(sorted(self.handlers))}",
                code="unknown_job_type",
            )
