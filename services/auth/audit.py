"""Audit events: who did what, tagged with the call's trace and request ids."""

from typing import Any

from services.auth import repository
from services.common.errors import NotAuthenticated
from services.common.internal_auth import current_principal
from services.common.telemetry import current_trace_id

ACTOR_USER = "user"
ACTOR_SERVICE = "service"
# For a failed login, actor_id is the user name the caller typed, not an id.
ACTOR_ANONYMOUS = "anonymous"
STATUS_OK = "ok"
STATUS_FAILED = "failed"
# Failed logins store the typed user name as the actor, cut to this length.
MAX_ACTOR_CHARS = 200


async def record_event(
    conn: repository.Connection,
    *,
    action: str,
    status: str,
    actor_id: str,
    actor_kind: str,
    project_id: str | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """Insert one audit event with the current trace id and request id."""
    event = repository.AuditEvent(
        action=action,
        status=status,
        actor_id=actor_id[:MAX_ACTOR_CHARS],
        actor_kind=actor_kind,
        project_id=project_id,
        target=target,
        trace_id=current_trace_id(),
        request_id=_current_request_id(),
        details=details or {},
    )
    await repository.insert_audit_event(conn, event)


def _current_request_id() -> str:
    # Startup work such as the owner bootstrap runs outside any call.
    try:
        return current_principal().request_id
    except NotAuthenticated:
        return ""
