"""The REST audit trail: one audit event per state-changing request and search.

The gateway reports each event to the auth service's RecordAuditEvent as
itself and names the session's user as the actor. The call is made inside
the request, so the auth service stores the request's own trace id.

Requests without a session (401, or auth unreachable) are not user actions
and leave no event. A request that fails the CSRF check is recorded as failed
because its session was resolved first.
"""

import json
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import structlog
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import security
from gateway.routes.common import clients_of, timeout_of
from gen.auth.v1 import auth_pb2

log = structlog.get_logger(__name__)

STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_WARNING = "warning"
SEARCH_ACTION = "lightrag.query"
# Actions by method and route template, without the /v1 prefix. A route
# missing here is recorded under its method and template, e.g. "POST /x/{id}".
ACTIONS = {
    ("POST", "/jobs/{connector}/sync"): "connectors.sync",
    ("POST", "/connectors/{name}/sync"): "connectors.sync",
    ("POST", "/connectors/errors/retry"): "connector_errors.retry",
    ("POST", "/connectors/errors/{error_id}/retry"): "connector_errors.requeue",
    ("POST", "/jobs/{job_type}/pause"): "jobs.pause",
    ("POST", "/jobs/{job_type}/resume"): "jobs.resume",
    ("POST", "/jobs/{job_type}/trigger"): "jobs.trigger",
    ("POST", "/jobs/embeddings/run"): "embeddings.run",
    ("POST", "/connectors/reconciliation/run"): "reconciliation.run",
    ("POST", "/lightrag/query"): SEARCH_ACTION,
    ("POST", "/search"): SEARCH_ACTION,
    ("POST", "/lightrag/feedback"): "lightrag.feedback",
    ("POST", "/projects"): "project.create",
    ("POST", "/projects/{project_id}/select"): "project.select",
    ("POST", "/projects/{project_id}/members"): "member.add",
    ("PATCH", "/projects/{project_id}/members/{user_id}"): "member.role_change",
    ("DELETE", "/projects/{project_id}/members/{user_id}"): "member.remove",
}
# The auth service records login and logout itself, successful or not.
RECORDED_BY_SERVICES = frozenset({"/auth/login", "/auth/logout"})
# The owning service records these when they succeed (auth: project and
# membership changes; reconcile: reconciliation.run), so only failures are added.
RECORDED_BY_SERVICES_WHEN_OK = frozenset(
    {
        "/projects",
        "/projects/{project_id}/select",
        "/projects/{project_id}/members",
        "/projects/{project_id}/members/{user_id}",
        "/connectors/reconciliation/run",
    }
)
# Error bodies are small JSON objects, so a larger body is not parsed for its code.
MAX_ERROR_BODY_BYTES = 16 * 1024


@dataclass
class AuditNotes:
    """Status and details a route adds to its request's audit event."""

    status: str = ""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    action: str
    status: str
    target: str
    details: dict[str, Any]


def add_details(request: Request, **details: Any) -> None:
    """Add fields to the details of this request's audit event."""
    _notes(request).details.update(details)


def mark_warning(request: Request) -> None:
    """Record this request as `warning` when it succeeds, e.g. a degraded search."""
    _notes(request).status = STATUS_WARNING


def _notes(request: Request) -> AuditNotes:
    notes: AuditNotes | None = getattr(request.state, "audit_notes", None)
    if notes is None:
        notes = AuditNotes()
        request.state.audit_notes = notes
    return notes


async def session_for_audit(request: Request) -> security.Session:
    """Resolve the session as `security.current_session` does and keep it.

    It replaces `current_session` through the app's dependency overrides. The
    session is resolved through a GET view of the request, which skips the CSRF
    check, so that a request failing the check still names its user.
    """
    read_view = Request({**request.scope, "method": "GET"}, request.receive)
    session = await security.current_session(read_view)
    request.state.audit_session = session
    if request.method not in security.SAFE_METHODS:
        security.check_csrf(request, security.settings_of(request), session)
    return session


def describe_event(
    method: str,
    template: str,
    path_params: dict[str, str],
    http_status: int,
    error_code: str,
    notes: AuditNotes,
) -> AuditEvent | None:
    """Return the audit event of a finished request, or None when none is due."""
    path = _without_version(template)
    failed = http_status >= 400
    if method not in STATE_CHANGING_METHODS or path in RECORDED_BY_SERVICES:
        return None
    if path in RECORDED_BY_SERVICES_WHEN_OK and not failed:
        return None
    details: dict[str, Any] = {"http_status": http_status}
    if failed:
        details["error_code"] = error_code or "unknown"
        status = STATUS_FAILED
    else:
        status = notes.status or STATUS_OK
    details.update(notes.details)
    return AuditEvent(
        action=ACTIONS.get((method, path), f"{method} {path}"),
        status=status,
        target="/".join(str(value) for value in path_params.values()),
        details=details,
    )


def _without_version(template: str) -> str:
    if template.startswith("/v1/"):
        return template.removeprefix("/v1")
    return template


class AuditTrailMiddleware:
    """ASGI middleware that records the audit event before the response ends.

    It holds back the last body message until the event is recorded, so a
    client that has the response can read the event. It must run inside the
    edge middleware, which sets the request id.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        started = time.perf_counter()
        http_status = 0
        error_body = bytearray()
        recorded = False

        async def send_after_recording(message: Message) -> None:
            nonlocal http_status, recorded
            if message["type"] == "http.response.start":
                http_status = int(message["status"])
            elif message["type"] == "http.response.body":
                if http_status >= 400 and len(error_body) < MAX_ERROR_BODY_BYTES:
                    error_body.extend(message.get("body", b""))
                if not message.get("more_body", False) and not recorded:
                    recorded = True
                    code = _error_code(bytes(error_body))
                    await record_request(request, http_status, code, started)
            await send(message)

        try:
            await self.app(scope, receive, send_after_recording)
        except Exception:
            # The app's catch-all handler turns this into a 500 "internal".
            if not recorded:
                await record_request(request, 500, "internal", started)
            raise


def _error_code(body: bytes) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else ""


async def record_request(
    request: Request, http_status: int, error_code: str, started: float
) -> None:
    """Record the audit event of a finished request, if one is due."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    session: security.Session | None = getattr(request.state, "audit_session", None)
    # 405 means a route matched the path but not the method, so none ran.
    if template is None or session is None or http_status == 405:
        return
    notes = _notes(request)
    if ACTIONS.get((request.method, _without_version(template))) == SEARCH_ACTION:
        duration_ms = (time.perf_counter() - started) * 1000
        notes.details["duration_ms"] = round(duration_ms, 1)
    event = describe_event(
        request.method,
        template,
        request.path_params,
        http_status,
        error_code,
        notes,
    )
    if event is not None:
        await send_event(request, session, event)


async def send_event(
    request: Request, session: security.Session, event: AuditEvent
) -> None:
    """Report one event to the auth service. A failure is logged, not raised."""
    message = auth_pb2.RecordAuditEventRequest(
        action=event.action,
        status=event.status,
        project_id=session.active_project_id,
        target=event.target,
        details_json=json.dumps(event.details),
        actor_user_id=session.user_id,
    )
    try:
        await clients_of(request).auth.RecordAuditEvent(
            message,
            metadata=security.gateway_metadata(request),
            timeout=timeout_of(request),
        )
    except grpc.aio.AioRpcError as exc:
        log.warning(
            "audit.record_failed",
            action=event.action,
            request_id=request.state.request_id,
            grpc_code=exc.code().name,
            error=exc.details(),
        )
