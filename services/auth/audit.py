"""Audit events: stored with the call's trace and request ids, listed per project."""

import json
import uuid
from dataclasses import dataclass
from typing import Any

from services.auth import repository
from services.auth.errors import InvalidAuditFilter
from services.common.errors import InvalidArgument, NotAuthenticated
from services.common.internal_auth import current_principal
from services.common.telemetry import current_trace_id

ACTOR_USER = "user"
ACTOR_SERVICE = "service"
# For a failed login, actor_id is the user name the caller typed, not an id.
ACTOR_ANONYMOUS = "anonymous"
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_WARNING = "warning"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_WARNING)
MAX_ACTION_CHARS = 100
MAX_TARGET_CHARS = 500
MAX_DETAILS_BYTES = 16 * 1024
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


@dataclass(frozen=True)
class ReportedEvent:
    """An audit event another service reports about its own work."""

    action: str
    status: str
    project_id: str | None
    target: str
    details: dict[str, Any]
    actor_id: str
    actor_kind: str

    @classmethod
    def from_request(
        cls,
        *,
        action: str,
        status: str,
        project_id: str,
        target: str,
        details_json: str,
        actor_user_id: str,
        service: str,
    ) -> "ReportedEvent":
        """Check a reported event's fields and return it."""
        if not action or len(action) > MAX_ACTION_CHARS:
            raise InvalidArgument(f"action must be 1 to {MAX_ACTION_CHARS} characters")
        if status not in STATUSES:
            raise InvalidArgument(f"status must be one of {', '.join(STATUSES)}")
        if project_id:
            try:
                project_id = str(uuid.UUID(project_id))
            except ValueError as exc:
                raise InvalidArgument("project_id must be a UUID") from exc
        return cls(
            action=action,
            status=status,
            project_id=project_id or None,
            target=target[:MAX_TARGET_CHARS],
            details=_details(details_json),
            actor_id=actor_user_id or service,
            actor_kind=ACTOR_USER if actor_user_id else ACTOR_SERVICE,
        )


def _details(text: str) -> dict[str, Any]:
    if not text:
        return {}
    if len(text.encode()) > MAX_DETAILS_BYTES:
        raise InvalidArgument(f"details_json is over {MAX_DETAILS_BYTES} bytes")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidArgument("details_json is not valid JSON") from exc
    if not isinstance(value, dict):
        raise InvalidArgument("details_json must be a JSON object")
    return value


async def record_reported(conn: repository.Connection, event: ReportedEvent) -> None:
    """Store an event reported by another service."""
    await record_event(
        conn,
        action=event.action,
        status=event.status,
        actor_id=event.actor_id,
        actor_kind=event.actor_kind,
        project_id=event.project_id,
        target=event.target,
        details=event.details,
    )


DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class EventQuery:
    """Filters and paging of one read of a project's audit events."""

    action: str
    status: str
    limit: int
    before_id: int

    @classmethod
    def from_request(
        cls, *, action: str, status: str, limit: int, before_id: int
    ) -> "EventQuery":
        """Check the filters. A limit of 0 means DEFAULT_PAGE_SIZE."""
        if len(action) > MAX_ACTION_CHARS:
            raise InvalidAuditFilter(
                f"action must have at most {MAX_ACTION_CHARS} characters"
            )
        if status and status not in STATUSES:
            raise InvalidAuditFilter(
                f"status must be one of {', '.join(STATUSES)}, got {status!r}"
            )
        if not 0 <= limit <= MAX_PAGE_SIZE:
            raise InvalidAuditFilter(
                f"limit must be from 1 to {MAX_PAGE_SIZE}, or 0 for"
                f" {DEFAULT_PAGE_SIZE}, got {limit}"
            )
        if before_id < 0:
            raise InvalidAuditFilter(
                f"before_id must be an event id, or 0 for the newest, got {before_id}"
            )
        return cls(
            action=action,
            status=status,
            limit=limit or DEFAULT_PAGE_SIZE,
            before_id=before_id,
        )


async def list_events(
    conn: repository.Connection, project_id: str, query: EventQuery
) -> tuple[list[repository.StoredAuditEvent], int]:
    """Return one page of the project's events, newest first, and the next before_id.

    The next before_id is 0 when the page is not full, so no further page exists.
    """
    events = await repository.list_audit_events(
        conn,
        project_id,
        action=query.action,
        status=query.status,
        limit=query.limit,
        before_id=query.before_id,
    )
    next_before_id = events[-1].id if len(events) == query.limit else 0
    return events, next_before_id
