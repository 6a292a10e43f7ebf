"""The SchedulerService gRPC API over one service's Scheduler."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc

from gen.scheduler.v1 import scheduler_pb2 as pb
from gen.scheduler.v1 import scheduler_pb2_grpc
from services.common.internal_auth import current_principal
from services.common.protos import timestamp
from services.common.scheduler import NIL_PROJECT, JobRow, Scheduler

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SchedulerService"].full_name

# Creates the jobs of a project the first time the service serves a call for it.
EnsureProject = Callable[[str], Awaitable[None]]
Context = grpc.aio.ServicerContext[Any, Any]


def job_to_proto(service: str, job: JobRow) -> pb.Job:
    return pb.Job(
        service=service,
        job_type=job.job_type,
        project_id="" if job.project_id == NIL_PROJECT else job.project_id,
        status=job.status,
        cadence_seconds=job.cadence_seconds,
        next_run_at=timestamp(job.next_run_at),
        last_started_at=timestamp(job.last_started_at),
        last_finished_at=timestamp(job.last_finished_at),
        last_status=job.last_status or "",
        last_error=job.last_error or "",
        last_duration_seconds=job.last_duration_seconds or 0.0,
        consecutive_failures=job.consecutive_failures,
        lease_holder=(job.lease_holder or "") if job.running else "",
        lease_expires_at=timestamp(job.lease_expires_at) if job.running else None,
        progress_json=json.dumps(job.progress),
        paused=job.paused,
    )


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServiceServicer):
    def __init__(
        self,
        service: str,
        pool: asyncpg.Pool,
        scheduler: Scheduler,
        ensure_project: EnsureProject,
    ) -> None:
        self._service = service
        self._pool = pool
        self._scheduler = scheduler
        self._ensure_project = ensure_project

    async def _jobs(self, project_id: str) -> pb.ListJobsResponse:
        async with self._pool.acquire() as conn:
            jobs = await self._scheduler.list_jobs(conn, project_id)
        return pb.ListJobsResponse(jobs=[job_to_proto(self._service, j) for j in jobs])

    async def ListJobs(
        self, request: pb.ListJobsRequest, context: Context
    ) -> pb.ListJobsResponse:
        """Return the jobs of the caller's project and the service-wide jobs."""
        project_id = current_principal().require_project()
        await self._ensure_project(project_id)
        return await self._jobs(project_id)

    async def PauseJob(
        self, request: pb.JobTypeRequest, context: Context
    ) -> pb.ListJobsResponse:
        """Pause a job type for the caller's project; admins only."""
        return await self._set_paused(request.job_type, paused=True)

    async def ResumeJob(
        self, request: pb.JobTypeRequest, context: Context
    ) -> pb.ListJobsResponse:
        """Resume a paused job type for the caller's project; admins only."""
        return await self._set_paused(request.job_type, paused=False)

    async def _set_paused(self, job_type: str, *, paused: bool) -> pb.ListJobsResponse:
        principal = current_principal()
        project_id = principal.require_project()
        principal.require_role("admin")
        await self._ensure_project(project_id)
        async with self._pool.acquire() as conn:
            await self._scheduler.set_paused(conn, job_type, project_id, paused)
        return await self._jobs(project_id)

    async def TriggerJob(
        self, request: pb.JobTypeRequest, context: Context
    ) -> pb.ListJobsResponse:
        """Make a job of the caller's project due now."""
        principal = current_principal()
        project_id = principal.require_project()
        principal.require_role("member")
        await self._ensure_project(project_id)
        await self._scheduler.trigger(request.job_type, project_id)
        return await self._jobs(project_id)


async def install_scheduler(
    server: grpc.aio.Server,
    on_shutdown: list[Callable[[], Awaitable[None]]],
    scheduler: Scheduler,
    *,
    service: str,
    ensure_project: EnsureProject,
    service_wide: dict[str, float],
) -> str:
    """Serve the scheduler API, create the service-wide jobs and start claiming.

    Returns the gRPC service name to report as healthy.
    """
    for job_type, cadence in service_wide.items():
        await scheduler.ensure(job_type, cadence)
    servicer = SchedulerServicer(service, scheduler.pool, scheduler, ensure_project)
    scheduler_pb2_grpc.add_SchedulerServiceServicer_to_server(servicer, server)
    task = asyncio.create_task(scheduler.run_forever(), name=f"{service}-scheduler")

    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    on_shutdown.append(stop)
    return SERVICE_NAME
