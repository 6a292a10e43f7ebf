"""Projects: list, create and choose the active one."""

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.security import SessionDep, gateway_metadata, user_metadata
from gen.auth.v1 import auth_pb2

router = APIRouter(tags=["projects"])


class ProjectBody(BaseModel):
    name: str = Field(min_length=1, max_length=100)


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
