"""Reporting audit events to the auth service, which owns the audit log."""

import json
from typing import Any

import grpc
import structlog

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.common.grpc_client import call_metadata
from services.common.internal_auth import Principal

log = structlog.get_logger(__name__)


class AuditClient:
    """Records events as the calling service; a failure is logged, not raised."""

    def __init__(self, channel: grpc.aio.Channel, secret: str, timeout: float) -> None:
        self._stub = auth_pb2_grpc.AuthServiceStub(channel)
        self._secret = secret
        self._timeout = timeout

    async def record(
        self,
        caller: Principal,
        *,
        action: str,
        status: str,
        target: str = "",
        details: dict[str, Any] | None = None,
        actor_user_id: str = "",
    ) -> bool:
        """Record an event of caller's project; return whether it was stored.

        caller is the service's own principal; actor_user_id names the user
        the work was done for, if any.
        """
        request = auth_pb2.RecordAuditEventRequest(
            action=action,
            status=status,
            project_id=caller.project_id,
            target=target,
            details_json=json.dumps(details or {}),
            actor_user_id=actor_user_id,
        )
        try:
            await self._stub.RecordAuditEvent(
                request,
                metadata=call_metadata(caller, self._secret),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            log.warning(
                "audit.record_failed",
                action=action,
                error=f"{exc.code().name}: {exc.details()}",
            )
            return False
        return True
