"""The connectors service's scheduled jobs: syncs per project and error retries.

A finished sync makes the RAG service's indexing job of the project due, and
that job makes the embeddings job due in turn; a finished whole pass also
makes the project's reconciliation due.
"""

from typing import Any

import asyncpg
import grpc
import structlog

from gen.scheduler.v1 import scheduler_pb2, scheduler_pb2_grpc
from services.common.errors import Aborted
from services.common.grpc_client import call_metadata
from services.common.internal_auth import service_principal
from services.common.scheduler import Handler, JobRow, Progress, Scheduler
from services.connectors import sources
from services.connectors.repository import SyncRun
from services.connectors.retries import retry_due_errors
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings

log = structlog.get_logger(__name__)

RETRY_JOB = "retry_connector_errors"


def sync_job(connector: str) -> str:
    return f"sync_{connector}"


class SyncTriggers:
    """Makes the jobs that follow a finished sync due in the other services.

    Indexing (RAG service) and reconciliation (reconcile service) follow a
    whole pass; a targeted sync or a retry of some pages makes indexing due
    only, so a repair that reconciliation started does not start another.
    """

    def __init__(
        self,
        rag: grpc.aio.Channel,
        reconcile: grpc.aio.Channel,
        secret: str,
        timeout: float,
    ) -> None:
        self._rag = scheduler_pb2_grpc.SchedulerServiceStub(rag)
        self._reconcile = scheduler_pb2_grpc.SchedulerServiceStub(reconcile)
        self._secret = secret
        self._timeout = timeout

    async def after_sync(self, run: SyncRun) -> None:
        """Trigger the following jobs; a failure is logged, not raised."""
        await self._trigger(self._rag, "index", run)
        if run.mode in ("incremental", "full"):
            await self._trigger(self._reconcile, "reconcile", run)

    async def _trigger(
        self, stub: scheduler_pb2_grpc.SchedulerServiceStub, job_type: str, run: SyncRun
    ) -> None:
        principal = service_principal("connectors", run.project_id)
        try:
            await stub.TriggerJob(
                scheduler_pb2.JobTypeRequest(job_type=job_type),
                metadata=call_metadata(principal, self._secret),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "sync.trigger_failed",
                job_type=job_type,
                run_id=run.id,
                project_id=run.project_id,
                error=f"{exc.code().name}: {exc.details()}",
            )


class ConnectorJobs:
    """Handlers of the connectors' jobs and the jobs each project gets."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        runner: SyncRunner,
        bodies: sources.SyncBodies,
        settings: ConnectorsSettings,
    ) -> None:
        self._pool = pool
        self._runner = runner
        self._bodies = bodies
        self._settings = settings
        self._known_projects: set[str] = set()
        self.scheduler: Scheduler | None = None

    def handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {RETRY_JOB: self._retry}
        for connector in sources.KNOWN_CONNECTORS:
            handlers[sync_job(connector)] = self._sync_handler(connector)
        return handlers

    async def ensure_project(self, project_id: str) -> None:
        """Create the sync jobs of a project's configured connectors, once."""
        if project_id in self._known_projects or self.scheduler is None:
            return
        for connector in sources.KNOWN_CONNECTORS:
            if sources.is_configured(self._settings, connector):
                await self.scheduler.ensure(
                    sync_job(connector),
                    self._settings.sync_interval_seconds,
                    project_id,
                )
        self._known_projects.add(project_id)

    def _sync_handler(self, connector: str) -> Handler:
        async def run(job: JobRow, progress: Progress) -> dict[str, Any]:
            body = self._bodies.for_connector(connector)
            started = await self._runner.start(
                job.project_id, connector, "incremental", [], body
            )
            await progress({"run_id": started.id})
            run = await self._runner.wait(job.project_id, started.id)
            if run.status != "succeeded":
                raise Aborted(f"sync run {run.id} ended {run.status}: {run.error}")
            return {"run_id": run.id, **run.counts}

        return run

    async def _retry(self, job: JobRow, progress: Progress) -> dict[str, Any]:
        started = await retry_due_errors(self._pool, self._runner, self._bodies)
        return {"retry_runs_started": started}
