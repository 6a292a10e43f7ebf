"""The scheduled jobs of every service, merged, and their pause switches."""

import asyncio
import json
from typing import Any

import grpc
from fastapi import APIRouter, Path, Request

from gateway.errors import ApiError
from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.security import ProjectSessionDep, user_metadata
from gen.scheduler.v1 import scheduler_pb2 as pb

router = APIRouter(tags=["jobs"])

JobType = Path(pattern=r"^[a-z_]{1,50}$")


def _job_json(job: pb.Job) -> dict[str, Any]:
    body = to_json(job)
    body["progress"] = json.loads(body.pop("progress_json") or "{}")
    return body


@router.get("/jobs/scheduler")
async def scheduler(session: ProjectSessionDep, request: Request) -> dict[str, Any]:
    """Return every service's jobs for the active project and service-wide."""
    stubs = clients_of(request).schedulers
    metadata = user_metadata(request, session)
    replies = await asyncio.gather(
        *(
            stub.ListJobs(
                pb.ListJobsRequest(), metadata=metadata, timeout=timeout_of(request)
            )
            for stub in stubs.values()
        ),
        return_exceptions=True,
    )
    jobs: list[dict[str, Any]] = []
    unavailable: dict[str, str] = {}
    for name, reply in zip(stubs, replies, strict=True):
        if isinstance(reply, grpc.aio.AioRpcError):
            unavailable[name] = f"{reply.code().name}: {reply.details()}"
        elif isinstance(reply, BaseException):
            raise reply
        else:
            jobs.extend(_job_json(job) for job in reply.jobs)
    return {"jobs": jobs, "unavailable": unavailable}


async def _switch(
    job_type: str, session: ProjectSessionDep, request: Request, *, action: str
) -> dict[str, Any]:
    """Pause, resume or run now a job type in whichever service runs it."""
    metadata = user_metadata(request, session)
    for stub in clients_of(request).schedulers.values():
        call = {
            "pause": stub.PauseJob,
            "resume": stub.ResumeJob,
            "run": stub.TriggerJob,
        }[action]
        try:
            reply = await call(
                pb.JobTypeRequest(job_type=job_type),
                metadata=metadata,
                timeout=timeout_of(request),
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                continue  # another service runs this job type
            raise
        return {"jobs": [_job_json(job) for job in reply.jobs]}
    raise ApiError(404, "unknown_job_type", f"no service runs a job {job_type!r}")


@router.post("/jobs/{job_type}/pause")
async def pause(
    session: ProjectSessionDep, request: Request, job_type: str = JobType
) -> dict[str, Any]:
    """Stop a job type from starting; a run in progress finishes. Admins only."""
    return await _switch(job_type, session, request, action="pause")


@router.post("/jobs/{job_type}/resume")
async def resume(
    session: ProjectSessionDep, request: Request, job_type: str = JobType
) -> dict[str, Any]:
    """Let a paused job type start again. Admins only."""
    return await _switch(job_type, session, request, action="resume")


@router.post("/jobs/{job_type}/trigger")
async def run_now(
    session: ProjectSessionDep, request: Request, job_type: str = JobType
) -> dict[str, Any]:
    """Make the active project's job due now; a replica starts it within a tick."""
    return await _switch(job_type, session, request, action="run")
