"""Reconciliation of the source systems against the raw tables and the mirror."""

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.security import ProjectSessionDep, user_metadata
from gen.reconcile.v1 import reconcile_pb2 as pb

router = APIRouter(tags=["reconciliation"])


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Empty reconciles every configured connector.
    connectors: list[str] = Field(default_factory=list, max_length=3)
    repair: StrictBool = False


@router.get("/connectors/reconciliation")
async def get_reconciliation(
    session: ProjectSessionDep,
    request: Request,
    days: int = Query(14, ge=1, le=90),
) -> dict[str, Any]:
    """Return the latest figures per connector and entity, samples and the trend."""
    report = await clients_of(request).reconcile.GetReconciliation(
        pb.GetReconciliationRequest(days=days),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return _report_json(report)


@router.post("/connectors/reconciliation/run")
async def run_reconciliation(
    session: ProjectSessionDep, request: Request, body: RunBody | None = None
) -> dict[str, Any]:
    """Reconcile now; with repair, also sync again what can be fetched."""
    body = body or RunBody()
    report = await clients_of(request).reconcile.RunReconciliation(
        pb.RunReconciliationRequest(connectors=body.connectors, repair=body.repair),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request, long=True),
    )
    return _report_json(report)


def _report_json(report: pb.ReconciliationReport) -> dict[str, Any]:
    body = to_json(report)
    if not report.HasField("run"):
        body["run"] = None
    for entity in body["entities"]:
        if not entity["has_mirror"]:
            entity["mirror_count"] = None
    return body
