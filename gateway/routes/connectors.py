"""Sync runs and connector state."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.security import ProjectSessionDep, user_metadata
from gen.connectors.v1 import connectors_pb2 as pb

router = APIRouter(tags=["connectors"])

MODES = {"incremental": pb.SYNC_MODE_INCREMENTAL, "full": pb.SYNC_MODE_FULL}


ExternalId = Annotated[str, StringConstraints(max_length=200)]


class SyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["incremental", "full"] = "incremental"
    external_ids: list[ExternalId] = Field(default_factory=list, max_length=1000)


async def start_sync(
    connector: str, body: SyncBody | None, session: ProjectSessionDep, request: Request
) -> JSONResponse:
    body = body or SyncBody()
    run = await clients_of(request).connectors.StartSync(
        pb.StartSyncRequest(
            connector=connector, mode=MODES[body.mode], external_ids=body.external_ids
        ),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return JSONResponse(run_json(run), status_code=202)


@router.post("/jobs/{connector}/sync", status_code=202)
async def start_job_sync(
    connector: str,
    session: ProjectSessionDep,
    request: Request,
    body: SyncBody | None = None,
) -> JSONResponse:
    """Start a sync run (202 with the run id); a run in progress is returned instead."""
    return await start_sync(connector, body, session, request)


@router.post("/connectors/{name}/sync", status_code=202)
async def start_connector_sync(
    name: str,
    session: ProjectSessionDep,
    request: Request,
    body: SyncBody | None = None,
) -> JSONResponse:
    """Start a sync of the named connector, optionally full or for some external ids."""
    return await start_sync(name, body, session, request)


@router.get("/jobs/runs/{run_id}")
async def get_run(
    run_id: str, session: ProjectSessionDep, request: Request
) -> dict[str, Any]:
    """Return the state, counts and error of one sync run."""
    run = await clients_of(request).connectors.GetSyncRun(
        pb.GetSyncRunRequest(run_id=run_id),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return run_json(run)


@router.get("/connectors/state")
async def connector_state(
    session: ProjectSessionDep, request: Request
) -> dict[str, Any]:
    """Return every connector's status, cursor, lag, lease and last error."""
    result = await clients_of(request).connectors.ListConnectorStates(
        pb.ListConnectorStatesRequest(),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {"connectors": [to_json(state) for state in result.states]}


def run_json(run: pb.SyncRun) -> dict[str, Any]:
    body = to_json(run)
    body["run_id"] = run.id
    body["mode"] = pb.SyncMode.Name(run.mode).removeprefix("SYNC_MODE_").lower()
    return body
