"""gRPC servicer of the auth service: proto in, domain call, proto out."""

from typing import Any, TypeAlias

import asyncpg
import grpc

from gen.auth.v1 import auth_pb2 as pb
from gen.auth.v1 import auth_pb2_grpc
from services.auth import audit, authentication, projects, repository
from services.auth.errors import CallerNotAllowed
from services.auth.sessions import SessionConfig
from services.common.internal_auth import current_principal
from services.common.protos import timestamp

# Handlers ignore the context because the interceptor reads the metadata and
# turns raised domain errors into statuses.
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]


def _project_to_proto(project: repository.Project) -> pb.Project:
    return pb.Project(
        id=project.id,
        name=project.name,
        role=project.role,
        created_at=timestamp(project.created_at),
    )


def _require_service_caller() -> None:
    principal = current_principal()
    if principal.kind != "service":
        raise CallerNotAllowed(
            f"only internal services may make this call, not a {principal.kind!r}"
            " principal"
        )


def _require_user_caller() -> str:
    """Return the calling user's id, or raise CallerNotAllowed for other callers."""
    principal = current_principal()
    if principal.kind != "user" or not principal.subject:
        raise CallerNotAllowed(
            f"this call acts for a user, not a {principal.kind!r} principal"
        )
    return principal.subject


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    """Users, sessions and projects.

    The gateway makes Login, ResolveSession, Logout and SelectProject calls as
    a service. ListProjects and CreateProject carry the user's own principal.
    """

    def __init__(self, pool: asyncpg.Pool, config: SessionConfig) -> None:
        self._pool = pool
        self._config = config

    async def Login(
        self, request: pb.LoginRequest, context: Context
    ) -> pb.LoginResponse:
        """Check a user name and password and open a session."""
        _require_service_caller()
        client = authentication.ClientInfo(
            address=request.client_address, user_agent=request.user_agent
        )
        opened = await authentication.log_in(
            self._pool, self._config, request.username, request.password, client
        )
        return pb.LoginResponse(
            session_token=opened.token,
            csrf_token=opened.csrf_token,
            user=pb.User(id=opened.user_id, username=opened.username),
            expires_at=timestamp(opened.expires_at),
        )

    async def ResolveSession(
        self, request: pb.ResolveSessionRequest, context: Context
    ) -> pb.ResolveSessionResponse:
        """Return the live session's user, CSRF token, active project and role."""
        _require_service_caller()
        resolved = await authentication.resolve_session(
            self._pool, self._config, request.session_token
        )
        return pb.ResolveSessionResponse(
            user=pb.User(id=resolved.user_id, username=resolved.username),
            csrf_token=resolved.csrf_token,
            active_project_id=resolved.active_project_id,
            role=resolved.role,
            expires_at=timestamp(resolved.expires_at),
        )

    async def Logout(
        self, request: pb.LogoutRequest, context: Context
    ) -> pb.LogoutResponse:
        """Revoke the session at once."""
        _require_service_caller()
        await authentication.log_out(self._pool, request.session_token)
        return pb.LogoutResponse()

    async def ListProjects(
        self, request: pb.ListProjectsRequest, context: Context
    ) -> pb.ListProjectsResponse:
        """List the calling user's projects with their role in each."""
        user_id = _require_user_caller()
        member_projects = await projects.list_projects(self._pool, user_id)
        return pb.ListProjectsResponse(
            projects=[_project_to_proto(project) for project in member_projects]
        )

    async def CreateProject(
        self, request: pb.CreateProjectRequest, context: Context
    ) -> pb.Project:
        """Create a project owned by the calling user."""
        user_id = _require_user_caller()
        project = await projects.create_project(self._pool, user_id, request.name)
        return _project_to_proto(project)

    async def SelectProject(
        self, request: pb.SelectProjectRequest, context: Context
    ) -> pb.SelectProjectResponse:
        """Make one of the user's projects the session's active project."""
        _require_service_caller()
        project = await authentication.select_project(
            self._pool, request.session_token, request.project_id
        )
        return pb.SelectProjectResponse(project=_project_to_proto(project))

    async def RecordAuditEvent(
        self, request: pb.RecordAuditEventRequest, context: Context
    ) -> pb.RecordAuditEventResponse:
        """Record an event another service reports, such as a reconciliation."""
        _require_service_caller()
        event = audit.ReportedEvent.from_request(
            action=request.action,
            status=request.status,
            project_id=request.project_id,
            target=request.target,
            details_json=request.details_json,
            actor_user_id=request.actor_user_id,
            service=current_principal().subject,
        )
        async with self._pool.acquire() as conn:
            await audit.record_reported(conn, event)
        return pb.RecordAuditEventResponse()
