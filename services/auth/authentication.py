"""Login, session lookup, logout and the session's active project."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import structlog
from argon2.exceptions import InvalidHashError

from services.auth import audit, passwords, repository, sessions, throttle
from services.auth.errors import (
    InvalidCredentials,
    LoginThrottled,
    ProjectNotFound,
    SessionNotFound,
)
from services.auth.sessions import SessionConfig

log = structlog.get_logger(__name__)

MAX_CLIENT_ADDRESS_CHARS = 100
MAX_USER_AGENT_CHARS = 512


def _storable_text(value: str, max_chars: int) -> str:
    # Postgres text and jsonb cannot contain NUL characters, so they are dropped.
    return value.replace("\x00", "")[:max_chars]


@dataclass(frozen=True)
class ClientInfo:
    """Client address and user agent of a login, as the gateway received them."""

    address: str
    user_agent: str

    def storable(self) -> "ClientInfo":
        """Return a copy without NUL characters and cut to the column limits."""
        return ClientInfo(
            address=_storable_text(self.address, MAX_CLIENT_ADDRESS_CHARS),
            user_agent=_storable_text(self.user_agent, MAX_USER_AGENT_CHARS),
        )


@dataclass(frozen=True)
class OpenedSession:
    token: str = field(repr=False)
    csrf_token: str = field(repr=False)
    user_id: str
    username: str
    expires_at: datetime


@dataclass(frozen=True)
class ResolvedSession:
    """A live session, whose project and role are empty without an active project."""

    user_id: str
    username: str
    csrf_token: str = field(repr=False)
    active_project_id: str
    role: str
    expires_at: datetime


def _now() -> datetime:
    return datetime.now(UTC)


async def log_in(
    pool: asyncpg.Pool,
    config: SessionConfig,
    username: str,
    password: str,
    client: ClientInfo,
    policy: throttle.ThrottlePolicy = throttle.DEFAULT_POLICY,
) -> OpenedSession:
    """Check the credentials, open a session and audit the attempt either way.

    Unknown user, wrong password and disabled user all raise the same
    InvalidCredentials after the same amount of hashing work, and all count
    as failures against the typed user name and the client address. Over
    either limit, LoginThrottled is raised before any password check, so a
    throttled attempt costs no hashing.
    """
    client = client.storable()
    typed_name = _storable_text(username, audit.MAX_ACTOR_CHARS)
    try:
        attempt = await throttle.begin_attempt(
            pool, policy, typed_name, client.address, _now()
        )
    except LoginThrottled as exc:
        await _record_failed_login(
            pool,
            typed_name,
            "throttled",
            client,
            retry_after_seconds=exc.retry_after_seconds,
        )
        raise
    user, failure = await _authenticate(pool, username, password)
    if user is None:
        await _record_failed_login(pool, typed_name, failure, client)
        raise InvalidCredentials("invalid user name or password")

    await throttle.succeed(pool, attempt, _now())
    async with pool.acquire() as conn, conn.transaction():
        opened = await _open_session(conn, config, user, client)
        await audit.record_event(
            conn,
            action="auth.login",
            status=audit.STATUS_OK,
            actor_id=user.id,
            actor_kind=audit.ACTOR_USER,
            target=user.id,
            details={"client_address": client.address},
        )
    log.info("auth.login_succeeded", user_id=user.id)
    return opened


async def _authenticate(
    pool: asyncpg.Pool, username: str, password: str
) -> tuple[repository.User | None, str]:
    """Return the user when the password matches, else None and the failure reason.

    No connection is held while argon2 runs, so slow logins cannot drain the pool.
    """
    user = await _find_user(pool, username)
    if user is None:
        await passwords.verify_dummy_password(password)
        return None, "unknown_user"
    if not await _verify_and_upgrade(pool, user, password):
        return None, "wrong_password"
    if user.disabled_at is not None:
        return None, "user_disabled"
    return user, ""


async def _find_user(pool: asyncpg.Pool, username: str) -> repository.User | None:
    if "\x00" in username:
        # No stored name can contain NUL, and Postgres rejects it in a query.
        return None
    async with pool.acquire() as conn:
        return await repository.find_user_by_username(conn, username)


async def _verify_and_upgrade(
    pool: asyncpg.Pool, user: repository.User, password: str
) -> bool:
    try:
        check = await passwords.verify_password(user.password_hash, password)
    except InvalidHashError:
        log.error("auth.password_hash_invalid", user_id=user.id)
        return False
    if check.new_hash is not None:
        async with pool.acquire() as conn:
            await repository.update_password_hash(conn, user.id, check.new_hash)
        log.info("auth.password_rehashed", user_id=user.id)
    return check.valid


async def _record_failed_login(
    pool: asyncpg.Pool,
    typed_name: str,
    reason: str,
    client: ClientInfo,
    *,
    retry_after_seconds: int | None = None,
) -> None:
    # The audit log keeps the reason, but the caller only sees
    # invalid_credentials, or too_many_attempts when throttled.
    details: dict[str, object] = {
        "reason": reason,
        "client_address": client.address,
    }
    if retry_after_seconds is not None:
        details["retry_after_seconds"] = retry_after_seconds
    async with pool.acquire() as conn:
        await audit.record_event(
            conn,
            action="auth.login",
            status=audit.STATUS_FAILED,
            actor_id=typed_name,
            actor_kind=audit.ACTOR_ANONYMOUS,
            details=details,
        )
    log.info("auth.login_failed", reason=reason)


async def _open_session(
    conn: repository.Connection,
    config: SessionConfig,
    user: repository.User,
    client: ClientInfo,
) -> OpenedSession:
    token = sessions.new_session_token()
    now = _now()
    idle_expires_at, absolute_expires_at = config.new_expiries(now)
    new_session = repository.NewSession(
        id_hash=sessions.hash_session_token(token),
        user_id=user.id,
        created_at=now,
        idle_expires_at=idle_expires_at,
        absolute_expires_at=absolute_expires_at,
        client_address=client.address,
        user_agent=client.user_agent,
    )
    await repository.insert_session(conn, new_session)
    return OpenedSession(
        token=token,
        csrf_token=sessions.csrf_token_for(token, config.csrf_secret),
        user_id=user.id,
        username=user.username,
        expires_at=idle_expires_at,
    )


async def resolve_session(
    pool: asyncpg.Pool, config: SessionConfig, token: str
) -> ResolvedSession:
    """Return the live session for token and slide its idle expiry.

    Raises SessionNotFound for unknown, revoked or expired sessions and for
    sessions of disabled users. An active project the user is no longer a
    member of is cleared and not returned.
    """
    now = _now()
    async with pool.acquire() as conn:
        stored = await _load_live_session(conn, token, now)
        idle_expires_at = await _slide_idle_expiry(conn, config, stored, now)
        project_id, role = await _active_membership(conn, stored)
    return ResolvedSession(
        user_id=stored.user_id,
        username=stored.username,
        csrf_token=sessions.csrf_token_for(token, config.csrf_secret),
        active_project_id=project_id,
        role=role,
        expires_at=idle_expires_at,
    )


async def _load_live_session(
    conn: repository.Connection, token: str, now: datetime
) -> repository.StoredSession:
    if not sessions.is_well_formed(token):
        raise SessionNotFound("session token is missing or malformed, log in again")
    stored = await repository.find_session(conn, sessions.hash_session_token(token))
    live = stored is not None and sessions.is_live(
        revoked_at=stored.revoked_at,
        idle_expires_at=stored.idle_expires_at,
        absolute_expires_at=stored.absolute_expires_at,
        now=now,
    )
    if stored is None or not live or stored.user_disabled_at is not None:
        raise SessionNotFound("session expired or ended, log in again")
    return stored


async def _slide_idle_expiry(
    conn: repository.Connection,
    config: SessionConfig,
    stored: repository.StoredSession,
    now: datetime,
) -> datetime:
    if not sessions.touch_due(stored.last_seen_at, now):
        return stored.idle_expires_at
    idle_expires_at = config.next_idle_expiry(now, stored.absolute_expires_at)
    await repository.touch_session(conn, stored.id_hash, now, idle_expires_at)
    return idle_expires_at


async def _active_membership(
    conn: repository.Connection, stored: repository.StoredSession
) -> tuple[str, str]:
    """Return (project id, role), both empty when there is no usable project."""
    if stored.active_project_id is None:
        return "", ""
    if stored.role is None:
        await repository.clear_active_project(
            conn, stored.id_hash, stored.active_project_id
        )
        log.info(
            "auth.active_project_cleared",
            user_id=stored.user_id,
            project_id=stored.active_project_id,
        )
        return "", ""
    return stored.active_project_id, stored.role


async def log_out(pool: asyncpg.Pool, token: str) -> None:
    """Revoke the session at once and audit the logout.

    Raises SessionNotFound when the token is unknown or already revoked.
    """
    if not sessions.is_well_formed(token):
        raise SessionNotFound("session token is missing or malformed")
    async with pool.acquire() as conn:
        revoked = await repository.revoke_session(
            conn, sessions.hash_session_token(token), _now()
        )
        if revoked is None:
            raise SessionNotFound("session not found or already ended")
        await audit.record_event(
            conn,
            action="auth.logout",
            status=audit.STATUS_OK,
            actor_id=revoked.user_id,
            actor_kind=audit.ACTOR_USER,
            project_id=revoked.active_project_id,
            target=revoked.user_id,
        )
    log.info("auth.logout_succeeded", user_id=revoked.user_id)


async def select_project(
    pool: asyncpg.Pool, token: str, project_id: str
) -> repository.Project:
    """Make project_id the session's active project and audit the choice.

    Raises SessionNotFound for a dead session. Raises ProjectNotFound both when
    the project does not exist and when the user is not a member, so that the
    ids of other users' projects reveal nothing.
    """
    async with pool.acquire() as conn:
        stored = await _load_live_session(conn, token, _now())
        project = await repository.find_member_project(conn, project_id, stored.user_id)
        if project is None:
            raise ProjectNotFound(f"project {project_id!r} not found")
        await repository.set_active_project(conn, stored.id_hash, project.id)
        await audit.record_event(
            conn,
            action="project.select",
            status=audit.STATUS_OK,
            actor_id=stored.user_id,
            actor_kind=audit.ACTOR_USER,
            project_id=project.id,
            target=project.id,
        )
    log.info("auth.project_selected", user_id=stored.user_id, project_id=project.id)
    return project
