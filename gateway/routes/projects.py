"""Projects: list, create, choose the active one, and manage members."""

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.security import SessionDep, gateway_metadata, user_metadata
from gen.auth.v1 import auth_pb2

router = APIRouter(tags=["projects"])


Role = Literal["owner", "admin", "member", "viewer"]


class ProjectBody(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class AddMemberBody(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    role: Role
    # Required, with at least 12 characters, when no user has this name yet.
    initial_password: str = Field(default="", max_length=1000)


class ChangeRoleBody(BaseModel):
    role: Role


@router.get("/projects")
async def list_projects(session: SessionDep, request: Request) -> dict[str, Any]:
    """List the projects the user is a member of."""
    result = await clients_of(request).auth.ListProjects(
        auth_pb2.ListProjectsRequest(),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {
        "projects": [to_json(project) for project in result.projects],
        "active_project_id": session.active_project_id or None,
    }


@router.post("/projects", status_code=201)
async def create_project(
    body: ProjectBody, session: SessionDep, request: Request
) -> dict[str, Any]:
    """Create a project owned by the user."""
    project = await clients_of(request).auth.CreateProject(
        auth_pb2.CreateProjectRequest(name=body.name),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return to_json(project)


@router.post("/projects/{project_id}/select")
async def select_project(
    project_id: str, session: SessionDep, request: Request
) -> dict[str, Any]:
    """Make a project the session's active project."""
    result = await clients_of(request).auth.SelectProject(
        auth_pb2.SelectProjectRequest(
            session_token=session.token, project_id=project_id
        ),
        metadata=gateway_metadata(request),
        timeout=timeout_of(request),
    )
    return {"active_project": to_json(result.project)}


@router.get("/projects/{project_id}/members")
async def list_members(
    project_id: str, session: SessionDep, request: Request
) -> dict[str, Any]:
    """List a project's members with their roles; owners only."""
    result = await clients_of(request).auth.ListMembers(
        auth_pb2.ListMembersRequest(project_id=project_id),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {"members": [to_json(member) for member in result.members]}


@router.post("/projects/{project_id}/members", status_code=201)
async def add_member(
    project_id: str, body: AddMemberBody, session: SessionDep, request: Request
) -> dict[str, Any]:
    """Add a user, created when the name is new, to the project; owners only."""
    result = await clients_of(request).auth.AddMember(
        auth_pb2.AddMemberRequest(
            project_id=project_id,
            username=body.username,
            role=body.role,
            initial_password=body.initial_password,
        ),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {"member": to_json(result.member), "user_created": result.user_created}


@router.patch("/projects/{project_id}/members/{user_id}")
async def change_member_role(
    project_id: str,
    user_id: str,
    body: ChangeRoleBody,
    session: SessionDep,
    request: Request,
) -> dict[str, Any]:
    """Change a member's role and end the member's sessions; owners only."""
    member = await clients_of(request).auth.ChangeMemberRole(
        auth_pb2.ChangeMemberRoleRequest(
            project_id=project_id, user_id=user_id, role=body.role
        ),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return {"member": to_json(member)}


@router.delete("/projects/{project_id}/members/{user_id}", status_code=204)
async def remove_member(
    project_id: str, user_id: str, session: SessionDep, request: Request
) -> Response:
    """Remove a member and end the member's sessions; owners only."""
    await clients_of(request).auth.RemoveMember(
        auth_pb2.RemoveMemberRequest(project_id=project_id, user_id=user_id),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return Response(status_code=204)
