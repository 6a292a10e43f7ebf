"""First start: create the configured owner and a project for them."""

import asyncpg
import structlog

from services.auth import audit, passwords, repository
from services.auth.projects import normalize_project_name
from services.auth.settings import AuthSettings

log = structlog.get_logger(__name__)

BOOTSTRAP_ACTOR = "service:auth"


async def bootstrap_owner_from_settings(
    pool: asyncpg.Pool, settings: AuthSettings
) -> bool:
    """Run bootstrap_owner when AUTH_OWNER_USERNAME and AUTH_OWNER_PASSWORD are set."""
    if settings.owner_password is None or not settings.owner_username:
        log.info("auth.owner_bootstrap_skipped")
        return False
    return await bootstrap_owner(
        pool,
        settings.owner_username,
        settings.owner_password.get_secret_value(),
        settings.owner_project_name,
    )


async def bootstrap_owner(
    pool: asyncpg.Pool, username: str, password: str, project_name: str
) -> bool:
    """Create username as owner of a new project unless the user exists already.

    An existing user keeps its password and projects. Returns True when the
    user was created.

    Concurrency: an advisory lock makes replicas that start together create
    the user once.
    """
    clean_name = normalize_project_name(project_name)
    async with pool.acquire() as conn:
        if await repository.find_user_by_username(conn, username) is not None:
            log.info("auth.owner_exists", username=username)
            return False
    password_hash = await passwords.hash_password(password)

    async with pool.acquire() as conn, conn.transaction():
        await repository.lock_owner_bootstrap(conn)
        if await repository.find_user_by_username(conn, username) is not None:
            log.info("auth.owner_exists", username=username)
            return False
        user = await repository.insert_user(conn, username, password_hash)
        project = await repository.insert_project_with_owner(conn, clean_name, user.id)
        await audit.record_event(
            conn,
            action="user.create",
            status=audit.STATUS_OK,
            actor_id=BOOTSTRAP_ACTOR,
            actor_kind=audit.ACTOR_SERVICE,
            project_id=project.id,
            target=user.id,
            details={"username": username, "role": "owner"},
        )
    log.info("auth.owner_created", user_id=user.id, project_id=project.id)
    return True
