"""Project members: listing, adding, role changes and removal, all by owners.

Every change runs in one transaction that first locks the project row, so the
check that a project keeps at least one owner cannot race with another change.
A role change or a removal revokes all of the member's sessions, so the user's
next request is rejected and a new login gets a new session.
"""

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog

from services.auth import audit, passwords, repository
from services.auth.errors import (
    InvalidPassword,
    InvalidRole,
    InvalidUsername,
    LastOwner,
    MemberAlreadyExists,
    MemberNotFound,
    NotProjectOwner,
    ProjectNotFound,
    UserNotActive,
)
from services.common.errors import Aborted

log = structlog.get_logger(__name__)

ROLES = ("owner", "admin", "member", "viewer")
MAX_USERNAME_CHARS = 200
MIN_PASSWORD_CHARS = 12
# The gateway accepts login passwords of up to 1,000 characters.
MAX_PASSWORD_CHARS = 1000


@dataclass(frozen=True)
class AddedMember:
    member: repository.Member
    user_created: bool


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidRole(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def _check_username(username: str) -> str:
    # Login compares names exactly, so a name is rejected rather than trimmed.
    if not 1 <= len(username) <= MAX_USERNAME_CHARS:
        raise InvalidUsername(
            f"user name must have 1 to {MAX_USERNAME_CHARS} characters,"
            f" got {len(username)}"
        )
    if username != username.strip():
        raise InvalidUsername("user name must not start or end with whitespace")
    if any(unicodedata.category(char) == "Cc" for char in username):
        raise InvalidUsername("user name must not contain control characters")
    return username


def _check_initial_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise InvalidPassword(
            f"initial_password must have {MIN_PASSWORD_CHARS} to"
            f" {MAX_PASSWORD_CHARS} characters for a new user, got {len(password)}"
        )
    return password


async def _require_owner(
    conn: repository.Connection, project_id: str, caller_id: str
) -> None:
    """Raise unless caller_id is an active user who owns project_id.

    A project the caller is not a member of raises ProjectNotFound, the same
    as one that does not exist, so its id reveals nothing.
    """
    caller = await repository.find_user_by_id(conn, caller_id)
    if caller is None or caller.disabled_at is not None:
        raise UserNotActive(f"user {caller_id!r} does not exist or is disabled")
    project = await repository.find_member_project(conn, project_id, caller_id)
    if project is None:
        raise ProjectNotFound(f"project {project_id!r} not found")
    if project.role != "owner":
        raise NotProjectOwner("only an owner of the project can manage its members")


async def _lock_and_require_owner(
    conn: repository.Connection, project_id: str, caller_id: str
) -> None:
    if not await repository.lock_project(conn, project_id):
        raise ProjectNotFound(f"project {project_id!r} not found")
    await _require_owner(conn, project_id, caller_id)


async def _require_member(
    conn: repository.Connection, project_id: str, user_id: str
) -> repository.Member:
    member = await repository.find_member(conn, project_id, user_id)
    if member is None:
        raise MemberNotFound(f"user {user_id!r} is not a member of this project")
    return member


async def _keep_an_owner(
    conn: repository.Connection, project_id: str, member: repository.Member
) -> None:
    """Raise LastOwner when member is the project's only owner."""
    if member.role == "owner" and await repository.count_owners(conn, project_id) <= 1:
        raise LastOwner(
            "the project's last owner cannot be demoted or removed;"
            " make another member owner first"
        )


async def list_members(
    pool: asyncpg.Pool, caller_id: str, project_id: str
) -> list[repository.Member]:
    """Return the members of a project the caller owns, by user name."""
    async with pool.acquire() as conn:
        await _require_owner(conn, project_id, caller_id)
        return await repository.list_members(conn, project_id)


async def add_member(
    pool: asyncpg.Pool,
    caller_id: str,
    project_id: str,
    username: str,
    role: str,
    initial_password: str,
) -> AddedMember:
    """Add username to the project with role, creating the user if needed.

    A new user needs an initial password of at least 12 characters. For an
    existing user the password must be empty, so that a caller never believes
    they set a password that was ignored.
    """
    _check_username(username)
    _check_role(role)
    async with pool.acquire() as conn:
        # Checked before the user name is looked up, so that only owners learn
        # whether a user exists.
        await _require_owner(conn, project_id, caller_id)
        existing = await repository.find_user_by_username(conn, username)
    if existing is not None and initial_password:
        raise InvalidPassword(_EXISTING_USER_PASSWORD)
    password_hash = None
    if existing is None:
        # Hashed outside the transaction, because argon2 takes a while.
        checked = _check_initial_password(initial_password)
        password_hash = await passwords.hash_password(checked)
    async with pool.acquire() as conn, conn.transaction():
        await _lock_and_require_owner(conn, project_id, caller_id)
        user = await repository.find_user_by_username(conn, username)
        user_created = user is None
        if user is None:
            user = await _create_user(conn, username, password_hash)
            await _audit(conn, caller_id, project_id, "user.create", user.id, {})
        elif initial_password:
            raise InvalidPassword(_EXISTING_USER_PASSWORD)
        joined_at = await repository.insert_membership(conn, project_id, user.id, role)
        if joined_at is None:
            raise MemberAlreadyExists(
                f"user {username!r} is already a member of this project"
            )
        details = {"username": username, "role": role, "user_created": user_created}
        await _audit(conn, caller_id, project_id, "member.add", user.id, details)
    log.info(
        "auth.member_added",
        project_id=project_id,
        user_id=user.id,
        role=role,
        user_created=user_created,
    )
    member = repository.Member(user.id, user.username, role, joined_at)
    return AddedMember(member=member, user_created=user_created)


_EXISTING_USER_PASSWORD = (
    "initial_password must be empty for an existing user; the user keeps their password"
)


async def _create_user(
    conn: repository.Connection,
    username: str,
    password_hash: str | None,
) -> repository.User:
    if password_hash is None:
        # The user existed before the transaction and was deleted since.
        raise Aborted(f"user {username!r} was deleted meanwhile; retry")
    try:
        return await repository.insert_user(conn, username, password_hash)
    except asyncpg.UniqueViolationError as exc:
        # Another call created the same user name after this one checked.
        raise MemberAlreadyExists(
            f"user {username!r} was created meanwhile; retry without initial_password"
        ) from exc


async def change_role(
    pool: asyncpg.Pool, caller_id: str, project_id: str, user_id: str, role: str
) -> repository.Member:
    """Give a member a new role and revoke their sessions.

    Setting the role a member already has changes nothing and revokes nothing.
    """
    _check_role(role)
    async with pool.acquire() as conn, conn.transaction():
        await _lock_and_require_owner(conn, project_id, caller_id)
        member = await _require_member(conn, project_id, user_id)
        if member.role == role:
            return member
        if role != "owner":
            await _keep_an_owner(conn, project_id, member)
        await repository.update_member_role(conn, project_id, member.user_id, role)
        revoked = await repository.revoke_user_sessions(conn, member.user_id, _now())
        details = {
            "old_role": member.role,
            "new_role": role,
            "sessions_revoked": revoked,
        }
        await _audit(
            conn, caller_id, project_id, "member.role_change", member.user_id, details
        )
    log.info(
        "auth.member_role_changed",
        project_id=project_id,
        user_id=member.user_id,
        role=role,
        sessions_revoked=revoked,
    )
    return repository.Member(member.user_id, member.username, role, member.created_at)


async def remove_member(
    pool: asyncpg.Pool, caller_id: str, project_id: str, user_id: str
) -> None:
    """Remove a member from the project and revoke their sessions."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_and_require_owner(conn, project_id, caller_id)
        member = await _require_member(conn, project_id, user_id)
        await _keep_an_owner(conn, project_id, member)
        await repository.delete_membership(conn, project_id, member.user_id)
        revoked = await repository.revoke_user_sessions(conn, member.user_id, _now())
        details = {
            "username": member.username,
            "role": member.role,
            "sessions_revoked": revoked,
        }
        await _audit(
            conn, caller_id, project_id, "member.remove", member.user_id, details
        )
    log.info(
        "auth.member_removed",
        project_id=project_id,
        user_id=member.user_id,
        sessions_revoked=revoked,
    )


async def _audit(
    conn: repository.Connection,
    caller_id: str,
    project_id: str,
    action: str,
    target_user_id: str,
    details: dict[str, object],
) -> None:
    await audit.record_event(
        conn,
        action=action,
        status=audit.STATUS_OK,
        actor_id=caller_id,
        actor_kind=audit.ACTOR_USER,
        project_id=project_id,
        target=target_user_id,
        details=details,
    )


def _now() -> datetime:
    return datetime.now(UTC)
