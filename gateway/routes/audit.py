"""Audit events of the active project."""

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.security import ProjectSessionDep, user_metadata
from gen.auth.v1 import auth_pb2

router = APIRouter(tags=["audit"])


@router.get("/audit")
async def list_audit_events(
    session: ProjectSessionDep,
    request: Request,
    action: Annotated[str, Query(max_length=100)] = "",
    status: Literal["ok", "failed", "warning"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """List the active project's audit events, newest first; admin or owner.

    Pass `next_before_id` of a page as `before_id` to read the next one; it is
    null after the last page.
    """
    result = await clients_of(request).auth.ListAuditEvents(
        auth_pb2.ListAuditEventsRequest(
            action=action,
            status=status or "",
            limit=limit,
            before_id=before_id or 0,
        ),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {
        "events": [_event_json(event) for event in result.events],
        "next_before_id": result.next_before_id or None,
    }


def _event_json(event: auth_pb2.AuditEvent) -> dict[str, Any]:
    body = to_json(event)
    body["details"] = json.loads(body.pop("details_json") or "{}")
    return body
