"""The CRM mirror of the Attio deals and companies."""

from typing import Any

from fastapi import APIRouter, Query, Request

from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.security import ProjectSessionDep, user_metadata
from gen.connectors.v1 import connectors_pb2 as pb

router = APIRouter(tags=["crm"])


@router.get("/crm/accounts")
async def list_accounts(
    session: ProjectSessionDep,
    request: Request,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> dict[str, Any]:
    """Return mirrored accounts with their source_system and external_ref."""
    result = await clients_of(request).connectors.ListCrmAccounts(
        pb.ListCrmRequest(limit=limit, offset=offset),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {
        "accounts": [to_json(account) for account in result.accounts],
        "unmapped_deals": result.unmapped_deals,
    }


@router.get("/crm/opportunities")
async def list_opportunities(
    session: ProjectSessionDep,
    request: Request,
    limit: int = Query(100, ge=1, le=500),
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> dict[str, Any]:
    """Return mirrored deals; unmapped_deals counts deals waiting for their company."""
    result = await clients_of(request).connectors.ListCrmOpportunities(
        pb.ListCrmRequest(limit=limit, offset=offset),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {
        "opportunities": [to_json(item) for item in result.opportunities],
        "unmapped_deals": result.unmapped_deals,
    }
