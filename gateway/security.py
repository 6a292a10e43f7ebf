"""Sessions, CSRF and the internal token that each service call carries."""

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gateway.errors import ApiError
from gateway.settings import GatewaySettings
from gen.auth.v1 import auth_pb2
from services.common.grpc_client import call_metadata
from services.common.internal_auth import Principal, service_principal

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    """The caller's verified session, as the auth service resolved it."""

    token: str
    user_id: str
    username: str
    csrf_token: str
    active_project_id: str
    role: str
    expires_at: str

    def principal(self, request_id: str) -> Principal:
        return Principal(
            subject=self.user_id,
            kind="user",
            role=self.role,
            project_id=self.active_project_id,
            request_id=request_id,
        )


def settings_of(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


def gateway_metadata(request: Request) -> tuple[tuple[str, str], ...]:
    """Metadata for calls the gateway makes as itself (login, session lookup)."""
    settings = settings_of(request)
    principal = service_principal("gateway", request_id=request.state.request_id)
    return call_metadata(principal, settings.internal_token_secret.get_secret_value())


async def current_session(request: Request) -> Session:
    """Resolve the session cookie: 401 without a live session, 403 on a bad CSRF pair.

    Session lookups go to the auth service on every request, so a revoked or
    expired session is rejected at once.
    """
    settings = settings_of(request)
    token = request.cookies.get(settings.session_cookie)
    if not token:
        raise ApiError(
            401, "not_authenticated", "no session; log in with POST /auth/login"
        )
    clients = request.app.state.clients
    resolved = await clients.auth.ResolveSession(
        auth_pb2.ResolveSessionRequest(session_token=token),
        metadata=gateway_metadata(request),
        timeout=settings.rpc_timeout_seconds,
    )
    session = Session(
        token=token,
        user_id=resolved.user.id,
        username=resolved.user.username,
        csrf_token=resolved.csrf_token,
        active_project_id=resolved.active_project_id,
        role=resolved.role,
        expires_at=resolved.expires_at.ToJsonString(),
    )
    if request.method not in SAFE_METHODS:
        check_csrf(request, settings, session)
    return session


def check_csrf(request: Request, settings: GatewaySettings, session: Session) -> None:
    """Require x-csrf-token to equal both the CSRF cookie and the session's token."""
    header = request.headers.get("x-csrf-token", "")
    cookie = request.cookies.get(settings.csrf_cookie, "")
    valid = (
        bool(header)
        and hmac.compare_digest(header, cookie)
        and hmac.compare_digest(header, session.csrf_token)
    )
    if not valid:
        raise ApiError(
            403,
            "csrf_invalid",
            "missing or invalid x-csrf-token; read a fresh token from GET /auth/me",
        )


SessionDep = Annotated[Session, Depends(current_session)]


async def project_session(session: SessionDep) -> Session:
    """Require an active project on the session."""
    if not session.active_project_id:
        raise ApiError(
            409,
            "active_project_required",
            "select a project with POST /projects/{id}/select",
        )
    return session


ProjectSessionDep = Annotated[Session, Depends(project_session)]


def user_metadata(request: Request, session: Session) -> tuple[tuple[str, str], ...]:
    """Metadata for calls made on behalf of the session's user."""
    settings = settings_of(request)
    principal = session.principal(request.state.request_id)
    return call_metadata(principal, settings.internal_token_secret.get_secret_value())
