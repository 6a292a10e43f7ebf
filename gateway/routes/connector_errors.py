"""Failed connector pages and records, their retries, and raw record lookups."""

import json
from typing import Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.routes.connectors import run_json
from gateway.security import ProjectSessionDep, user_metadata
from gen.connectors.v1 import connectors_pb2 as pb

router = APIRouter(tags=["connectors"])

ErrorStatus = Literal["pending", "retrying", "dead_letter", "resolved"]


INT64_MAX = 2**63 - 1


class RetryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connector: str | None = Field(default=None, max_length=50)


@router.get("/connectors/errors")
async def list_errors(
    session: ProjectSessionDep,
    request: Request,
    status: ErrorStatus | None = None,
    connector: str | None = None,
    limit: int = Query(100, ge=1, le=500),
    before_id: int | None = Query(None, ge=1, le=INT64_MAX),
) -> dict[str, Any]:
    """Return failed pages and records, newest first, filtered as asked."""
    result = await clients_of(request).connectors.ListConnectorErrors(
        pb.ListConnectorErrorsRequest(
            connector=connector or "",
            status=status or "",
            limit=limit,
            before_id=before_id or 0,
        ),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {"errors": [error_json(error) for error in result.errors]}


@router.post("/connectors/errors/retry", status_code=202)
async def retry_errors(
    session: ProjectSessionDep, request: Request, body: RetryBody | None = None
) -> JSONResponse:
    """Make waiting errors due now and start a retry run per connector."""
    result = await clients_of(request).connectors.RetryConnectorErrors(
        pb.RetryConnectorErrorsRequest(connector=(body or RetryBody()).connector or ""),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    answer: dict[str, Any] = {
        "queued": result.queued,
        "runs": [run_json(run) for run in result.runs],
        "dead_letters": result.dead_letters,
    }
    if result.dead_letters:
        answer["hint"] = (
            "dead letters are not retried in bulk; retry each one with"
            " POST /connectors/errors/{id}/retry"
        )
    return JSONResponse(answer, status_code=202)


@router.post("/connectors/errors/{error_id}/retry", status_code=202)
async def requeue_error(
    session: ProjectSessionDep,
    request: Request,
    error_id: int = Path(ge=1, le=INT64_MAX),
) -> JSONResponse:
    """Put one error, a dead letter included, back in the queue and retry it."""
    result = await clients_of(request).connectors.RequeueConnectorError(
        pb.RequeueConnectorErrorRequest(id=error_id),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return JSONResponse(
        {"error": error_json(result.error), "run": run_json(result.run)},
        status_code=202,
    )


@router.get("/connectors/{name}/records/{external_id}")
async def get_record(
    name: str,
    session: ProjectSessionDep,
    request: Request,
    external_id: str = Path(max_length=200),
) -> dict[str, Any]:
    """Return a record's raw row and, for Attio, its CRM mirror row."""
    record = await clients_of(request).connectors.GetSourceRecord(
        pb.GetSourceRecordRequest(connector=name, external_id=external_id),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {
        "connector": record.connector,
        "external_id": record.external_id,
        "table": record.table,
        "raw": json.loads(record.raw_json) if record.raw_json else None,
        "mirror": json.loads(record.mirror_json) if record.mirror_json else None,
    }


def error_json(error: pb.ConnectorError) -> dict[str, Any]:
    body = to_json(error)
    body["position"] = json.loads(body.pop("position_json") or "{}")
    return body
