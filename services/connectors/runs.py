"""Starting sync runs and keeping their leases alive.

Concurrency: a partial unique index allows one running run per project and
connector, so two requests (or two replicas) racing to start a sync get the
same run. The process that inserted the run renews its lease on a heartbeat.
If that process dies, the lease expires, and every read of runs or states
first marks expired runs abandoned, so no read reports a dead run as running.
"""

import asyncio
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from services.common.database import Connection
from services.common.errors import DomainError
from services.connectors import repository
from services.connectors.errors import InvalidSyncRequest, SyncRunNotFound
from services.connectors.repository import SyncRun

log = structlog.get_logger(__name__)

INTERRUPTED = "interrupted: the service shut down"

SyncBody = Callable[
    [SyncRun, Callable[[dict[str, int]], Awaitable[None]]], Awaitable[dict[str, int]]
]


class SyncRunner:
    """Starts runs as background tasks of this process and tracks their leases."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        lease_seconds: float,
        heartbeat_seconds: float,
        on_success: Callable[[SyncRun], Awaitable[None]] | None = None,
    ) -> None:
        self._pool = pool
        self._on_success = on_success
        self._lease_seconds = lease_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._active: dict[str, SyncRun] = {}

    async def start(
        self,
        project_id: str,
        connector: str,
        mode: str,
        external_ids: list[str],
        body: SyncBody,
    ) -> SyncRun:
        """Start a run, or return the one already running for this connector."""
        async with self._pool.acquire() as conn, conn.transaction():
            await repository.expire_stale_runs(conn, project_id)
            run = await repository.insert_run(
                conn,
                project_id=project_id,
                connector=connector,
                mode=mode,
                external_ids=external_ids,
                lease_holder=self.holder,
                lease_seconds=self._lease_seconds,
            )
            if run is None:
                running = await repository.get_running_run(conn, project_id, connector)
                if running is None:
                    raise InvalidSyncRequest(
                        "the running sync finished meanwhile; start again"
                    )
                return running
        log.info(
            "sync.started",
            run_id=run.id,
            connector=connector,
            mode=mode,
            project_id=project_id,
        )
        self._active[run.id] = run
        self._tasks[run.id] = asyncio.create_task(
            self._execute(run, body), name=f"sync-{run.id}"
        )
        return run

    async def abandon_orphans(self) -> int:
        """Close the runs that a dead process on this host left running.

        Holders name their host and process id, so a service that restarts
        need not wait for the lease of a run whose process is gone.
        NOTE: assumes one process id namespace per host name, as on a machine
        or in a pod. Elsewhere such runs still end when their lease expires.
        """
        prefix = f"{socket.gethostname()}:"
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, project_id, connector, lease_holder"
                " FROM connectors.sync_runs WHERE status = 'running'"
                " AND starts_with(lease_holder, $1)",
                prefix,
            )
            closed = 0
            for row in rows:
                pid = _holder_pid(row["lease_holder"])
                if pid is None or pid == os.getpid() or _alive(pid):
                    continue
                await _abandon(conn, row, f"the process running it (pid {pid}) is gone")
                closed += 1
        return closed

    async def get(self, project_id: str, run_id: str) -> SyncRun:
        """Return a run of the project, marking it abandoned if its lease expired."""
        try:
            key = uuid.UUID(run_id)
        except ValueError as exc:
            raise SyncRunNotFound(f"sync run {run_id!r} not found") from exc
        async with self._pool.acquire() as conn:
            await repository.expire_stale_runs(conn, project_id)
            run = await repository.get_run(conn, project_id, key)
        if run is None:
            raise SyncRunNotFound(f"sync run {run_id!r} not found")
        return run

    async def wait(self, project_id: str, run_id: str) -> SyncRun:
        """Wait until a run of this process ends, or its lease does; return it."""
        task = self._tasks.get(run_id)
        if task is not None:
            await asyncio.wait([task])
        run = await self.get(project_id, run_id)
        while run.status == "running":
            # Another process holds the run; it ends, or its lease expires.
            await asyncio.sleep(min(self._heartbeat_seconds, 1.0))
            run = await self.get(project_id, run_id)
        return run

    async def stop(self) -> None:
        """Cancel this process's runs; each records that it was interrupted."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        # A task cancelled before its first step never ran its own cleanup.
        for run in list(self._active.values()):
            await self._finish(run, "failed", {}, INTERRUPTED)
        self._active.clear()

    async def _execute(self, run: SyncRun, body: SyncBody) -> None:
        counts: dict[str, int] = {}

        async def progress(latest: dict[str, int]) -> None:
            counts.update(latest)

        heartbeat = asyncio.create_task(self._heartbeat(run, counts))
        try:
            final = await body(run, progress)
            await self._finish(run, "succeeded", final)
            if self._on_success is not None:
                await self._on_success(run)
        except asyncio.CancelledError:
            await self._finish(
                run, "failed", counts, "interrupted: the service shut down"
            )
            raise
        except DomainError as exc:
            await self._finish(run, "failed", counts, exc.message)
        except Exception as exc:
            log.exception("sync.crashed", run_id=run.id, connector=run.connector)
            await self._finish(
                run, "failed", counts, f"internal error: {type(exc).__name__}"
            )
        finally:
            heartbeat.cancel()
            self._tasks.pop(run.id, None)
            self._active.pop(run.id, None)

    async def _heartbeat(self, run: SyncRun, counts: dict[str, int]) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            async with self._pool.acquire() as conn:
                ours = await repository.renew_lease(
                    conn, run.id, self.holder, self._lease_seconds, counts
                )
            if not ours:
                log.warning("sync.lease_lost", run_id=run.id, connector=run.connector)
                return

    async def _finish(
        self,
        run: SyncRun,
        status: str,
        counts: dict[str, int],
        error: str | None = None,
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            closed = await repository.finish_run(
                conn, run, status=status, counts=counts, error=error
            )
            if closed and error:
                await repository.record_failure(
                    conn, run.project_id, run.connector, error, run.id
                )
        if error:
            log.error(
                "sync.failed", run_id=run.id, connector=run.connector, error=error
            )
        else:
            log.info("sync.finished", run_id=run.id, connector=run.connector, **counts)


async def _abandon(conn: Connection, row: asyncpg.Record, reason: str) -> None:
    async with conn.transaction():
        await conn.execute(
            "UPDATE connectors.sync_runs SET status = 'abandoned', finished_at = now(),"
            " error = $2 WHERE id = $1 AND status = 'running'",
            row["id"],
            reason,
        )
        project_id = str(row["project_id"])
        await repository.record_failure(
            conn, project_id, row["connector"], reason, row["id"]
        )
    log.warning("sync.orphan_abandoned", run_id=str(row["id"]), reason=reason)


def _holder_pid(holder: str) -> int | None:
    parts = holder.split(":")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
