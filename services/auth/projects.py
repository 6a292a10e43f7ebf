"""Projects: name rules, creation with the creator as owner, and listing."""

import unicodedata

import asyncpg
import structlog

from services.auth import audit, repository
from services.auth.errors import InvalidProjectName, UserNotActive

log = structlog.get_logger(__name__)

MAX_NAME_CHARS = 100


def normalize_project_name(name: str) -> str:
    """Return name without surrounding whitespace, or raise InvalidProjectName.

    A valid name has 1 to 100 characters after trimming and no control
    characters such as line breaks.
    """
    trimmed = name.strip()
    if not 1 <= len(trimmed) <= MAX_NAME_CHARS:
        raise InvalidProjectName(
            f"project name must have 1 to {MAX_NAME_CHARS} characters after"
            f" trimming, got {len(trimmed)}"
        )
    if any(unicodedata.category(char) == "Cc" for char in trimmed):
        raise InvalidProjectName("project name must not contain control characters")
    return trimmed


async def create_project(
    pool: asyncpg.Pool, user_id: str, name: str
) -> repository.Project:
    """Create a project with user_id as its owner and audit the creation."""
    clean_name = normalize_project_name(name)
    async with pool.acquire() as conn, conn.transaction():
        await _require_active_user(conn, user_id)
        project = await repository.insert_project_with_owner(conn, clean_name, user_id)
        await audit.record_event(
            conn,
            action="project.create",
            status=audit.STATUS_OK,
            actor_id=user_id,
            actor_kind=audit.ACTOR_USER,
            project_id=project.id,
            target=project.id,
            details={"name": clean_name},
        )
    log.info("auth.project_created", user_id=user_id, project_id=project.id)
    return project


async def list_projects(pool: asyncpg.Pool, user_id: str) -> list[repository.Project]:
    """Return the projects user_id is a member of, with the user's role in each."""
    async with pool.acquire() as conn:
        await _require_active_user(conn, user_id)
        return await repository.list_member_projects(conn, user_id)


async def _require_active_user(conn: repository.Connection, user_id: str) -> None:
    # An internal token stays valid after its user is deleted or disabled.
    user = await repository.find_user_by_id(conn, user_id)
    if user is None or user.disabled_at is not None:
        raise UserNotActive(f"user {user_id!r} does not exist or is disabled")
