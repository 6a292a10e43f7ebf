"""SQL for users, projects, memberships, sessions, login failures and audit events."""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A plain connection, or the proxy that `pool.acquire()` yields for one.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True)
class User:
    id: str
    username: str
    password_hash: str = field(repr=False)
    disabled_at: datetime | None


@dataclass(frozen=True)
class Project:
    """A project as one user sees it, with that user's role."""

    id: str
    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class NewSession:
    id_hash: str
    user_id: str
    created_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    client_address: str
    user_agent: str


@dataclass(frozen=True)
class StoredSession:
    """A session row with its user and the user's role in the active project.

    `role` is None when the session has no active project or the user is no
    longer a member of it.
    """

    id_hash: str
    user_id: str
    username: str
    user_disabled_at: datetime | None
    active_project_id: str | None
    role: str | None
    last_seen_at: datetime
    idle_expires_at: datetime
    absolute_expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class RevokedSession:
    user_id: str
    active_project_id: str | None


@dataclass(frozen=True)
class AuditEvent:
    action: str
    status: str
    actor_id: str
    actor_kind: str
    project_id: str | None = None
    target: str = ""
    trace_id: str = ""
    request_id: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _optional_id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def _parse_uuid(value: str) -> uuid.UUID | None:
    """Return value as a UUID, or None when it is not one (so no row can match)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _user_from(row: asyncpg.Record) -> User:
    return User(
        id=str(row["id"]),
        username=row["username"],
        password_hash=row["password_hash"],
        disabled_at=row["disabled_at"],
    )


def _project_from(row: asyncpg.Record) -> Project:
    return Project(
        id=str(row["id"]),
        name=row["name"],
        role=row["role"],
        created_at=row["created_at"],
    )


def _session_from(row: asyncpg.Record) -> StoredSession:
    return StoredSession(
        id_hash=row["id_hash"],
        user_id=str(row["user_id"]),
        username=row["username"],
        user_disabled_at=row["disabled_at"],
        active_project_id=_optional_id(row["active_project_id"]),
        role=row["role"],
        last_seen_at=row["last_seen_at"],
        idle_expires_at=row["idle_expires_at"],
        absolute_expires_at=row["absolute_expires_at"],
        revoked_at=row["revoked_at"],
    )


async def find_user_by_username(conn: Connection, username: str) -> User | None:
    row = await conn.fetchrow(
        "SELECT id, username, password_hash, disabled_at FROM auth.users"
        " WHERE username = $1",
        username,
    )
    return _user_from(row) if row else None


async def find_user_by_id(conn: Connection, user_id: str) -> User | None:
    """Return the user with this id, or None when none exists or the id is malformed."""
    parsed_id = _parse_uuid(user_id)
    if parsed_id is None:
        return None
    row = await conn.fetchrow(
        "SELECT id, username, password_hash, disabled_at FROM auth.users WHERE id = $1",
        parsed_id,
    )
    return _user_from(row) if row else None


async def insert_user(conn: Connection, username: str, password_hash: str) -> User:
    row = await conn.fetchrow(
        "INSERT INTO auth.users (username, password_hash) VALUES ($1, $2)"
        " RETURNING id, username, password_hash, disabled_at",
        username,
        password_hash,
    )
    assert row is not None
    return _user_from(row)


async def update_password_hash(
    conn: Connection, user_id: str, password_hash: str
) -> None:
    await conn.execute(
        "UPDATE auth.users SET password_hash = $2 WHERE id = $1",
        uuid.UUID(user_id),
        password_hash,
    )


async def lock_owner_bootstrap(conn: Connection) -> None:
    """Serialise owner bootstrap across replicas until the transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('auth.owner_bootstrap'))")


async def insert_project_with_owner(
    conn: Connection, name: str, owner_id: str
) -> Project:
    """Insert a project and its owner's membership. Call it inside a transaction."""
    row = await conn.fetchrow(
        "INSERT INTO auth.projects (name, created_by) VALUES ($1, $2)"
        " RETURNING id, name, created_at, 'owner' AS role",
        name,
        uuid.UUID(owner_id),
    )
    assert row is not None
    await conn.execute(
        "INSERT INTO auth.memberships (project_id, user_id, role)"
        " VALUES ($1, $2, 'owner')",
        row["id"],
        uuid.UUID(owner_id),
    )
    return _project_from(row)


async def list_member_projects(conn: Connection, user_id: str) -> list[Project]:
    """Return the projects user_id is a member of, by name, then creation time."""
    rows = await conn.fetch(
        "SELECT p.id, p.name, p.created_at, m.role FROM auth.projects p"
        " JOIN auth.memberships m ON m.project_id = p.id"
        " WHERE m.user_id = $1 ORDER BY p.name, p.created_at, p.id",
        uuid.UUID(user_id),
    )
    return [_project_from(row) for row in rows]


async def find_member_project(
    conn: Connection, project_id: str, user_id: str
) -> Project | None:
    """Return the project when user_id is a member of it, else None.

    A malformed project_id matches nothing, so callers raise a not-found error.
    """
    parsed_id = _parse_uuid(project_id)
    if parsed_id is None:
        return None
    row = await conn.fetchrow(
        "SELECT p.id, p.name, p.created_at, m.role FROM auth.projects p"
        " JOIN auth.memberships m ON m.project_id = p.id"
        " WHERE p.id = $1 AND m.user_id = $2",
        parsed_id,
        uuid.UUID(user_id),
    )
    return _project_from(row) if row else None


async def insert_session(conn: Connection, session: NewSession) -> None:
    await conn.execute(
        "INSERT INTO auth.sessions (id_hash, user_id, created_at, last_seen_at,"
        " idle_expires_at, absolute_expires_at, client_address, user_agent)"
        " VALUES ($1, $2, $3, $3, $4, $5, $6, $7)",
        session.id_hash,
        uuid.UUID(session.user_id),
        session.created_at,
        session.idle_expires_at,
        session.absolute_expires_at,
        session.client_address,
        session.user_agent,
    )


async def find_session(conn: Connection, id_hash: str) -> StoredSession | None:
    """Return the session stored under id_hash, revoked and expired ones included."""
    row = await conn.fetchrow(
        "SELECT s.id_hash, s.user_id, u.username, u.disabled_at,"
        " s.active_project_id, m.role, s.last_seen_at, s.idle_expires_at,"
        " s.absolute_expires_at, s.revoked_at"
        " FROM auth.sessions s JOIN auth.users u ON u.id = s.user_id"
        " LEFT JOIN auth.memberships m"
        " ON m.project_id = s.active_project_id AND m.user_id = s.user_id"
        " WHERE s.id_hash = $1",
        id_hash,
    )
    return _session_from(row) if row else None


async def touch_session(
    conn: Connection,
    id_hash: str,
    last_seen_at: datetime,
    idle_expires_at: datetime,
) -> None:
    await conn.execute(
        "UPDATE auth.sessions SET last_seen_at = $2, idle_expires_at = $3"
        " WHERE id_hash = $1 AND revoked_at IS NULL",
        id_hash,
        last_seen_at,
        idle_expires_at,
    )


async def set_active_project(conn: Connection, id_hash: str, project_id: str) -> None:
    await conn.execute(
        "UPDATE auth.sessions SET active_project_id = $2 WHERE id_hash = $1",
        id_hash,
        uuid.UUID(project_id),
    )


async def clear_active_project(conn: Connection, id_hash: str, project_id: str) -> None:
    """Unset the active project, unless a concurrent call already chose another."""
    await conn.execute(
        "UPDATE auth.sessions SET active_project_id = NULL"
        " WHERE id_hash = $1 AND active_project_id = $2",
        id_hash,
        uuid.UUID(project_id),
    )


async def revoke_session(
    conn: Connection, id_hash: str, revoked_at: datetime
) -> RevokedSession | None:
    """Revoke the session, or return None when it is unknown or already revoked."""
    row = await conn.fetchrow(
        "UPDATE auth.sessions SET revoked_at = $2"
        " WHERE id_hash = $1 AND revoked_at IS NULL"
        " RETURNING user_id, active_project_id",
        id_hash,
        revoked_at,
    )
    if row is None:
        return None
    return RevokedSession(
        user_id=str(row["user_id"]),
        active_project_id=_optional_id(row["active_project_id"]),
    )


async def delete_expired_sessions(conn: Connection, now: datetime) -> int:
    """Delete revoked sessions and those past either expiry, and return the count."""
    result = await conn.execute(
        "DELETE FROM auth.sessions WHERE revoked_at IS NOT NULL"
        " OR idle_expires_at <= $1 OR absolute_expires_at <= $1",
        now,
    )
    return int(result.split()[-1])


async def insert_audit_event(conn: Connection, event: AuditEvent) -> None:
    await conn.execute(
        "INSERT INTO auth.audit_events (project_id, actor_id, actor_kind, action,"
        " status, target, trace_id, request_id, details)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        uuid.UUID(event.project_id) if event.project_id else None,
        event.actor_id,
        event.actor_kind,
        event.action,
        event.status,
        event.target,
        event.trace_id,
        event.request_id,
        json.dumps(event.details),
    )


@dataclass(frozen=True)
class Member:
    """A project member with the time the user joined the project."""

    user_id: str
    username: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class StoredAuditEvent:
    id: int
    created_at: datetime
    actor_id: str
    actor_kind: str
    action: str
    status: str
    target: str
    trace_id: str
    request_id: str
    # The jsonb column as Postgres prints it.
    details_json: str


@dataclass(frozen=True)
class FailureCounts:
    """Failed logins within the window, per user name and per client address."""

    username: int
    client_address: int


def _member_from(row: asyncpg.Record) -> Member:
    return Member(
        user_id=str(row["user_id"]),
        username=row["username"],
        role=row["role"],
        created_at=row["created_at"],
    )


async def insert_login_failure(
    conn: Connection, username: str, client_address: str, failed_at: datetime
) -> int:
    """Store one failed login and return its id."""
    failure_id: int = await conn.fetchval(
        "INSERT INTO auth.login_failures (username, client_address, failed_at)"
        " VALUES ($1, $2, $3) RETURNING id",
        username,
        client_address,
        failed_at,
    )
    return failure_id


async def delete_login_failure(conn: Connection, failure_id: int) -> None:
    await conn.execute("DELETE FROM auth.login_failures WHERE id = $1", failure_id)


async def count_login_failures(
    conn: Connection, username: str, client_address: str, since: datetime
) -> FailureCounts:
    """Count failures after since: uncleared ones of username, all of client_address."""
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE username = $1 AND cleared_at IS NULL)"
        " AS by_username,"
        " count(*) FILTER (WHERE client_address = $2) AS by_address"
        " FROM auth.login_failures"
        " WHERE failed_at > $3 AND (username = $1 OR client_address = $2)",
        username,
        client_address,
        since,
    )
    assert row is not None
    return FailureCounts(username=row["by_username"], client_address=row["by_address"])


async def nth_newest_username_failure(
    conn: Connection, username: str, since: datetime, n: int
) -> datetime | None:
    """Return the time of the n-th newest uncleared failure of username after since."""
    value: datetime | None = await conn.fetchval(
        "SELECT failed_at FROM auth.login_failures"
        " WHERE username = $1 AND cleared_at IS NULL AND failed_at > $2"
        " ORDER BY failed_at DESC OFFSET $3 LIMIT 1",
        username,
        since,
        n - 1,
    )
    return value


async def nth_newest_address_failure(
    conn: Connection, client_address: str, since: datetime, n: int
) -> datetime | None:
    """Return the time of the n-th newest failure from client_address after since."""
    value: datetime | None = await conn.fetchval(
        "SELECT failed_at FROM auth.login_failures"
        " WHERE client_address = $1 AND failed_at > $2"
        " ORDER BY failed_at DESC OFFSET $3 LIMIT 1",
        client_address,
        since,
        n - 1,
    )
    return value


async def clear_username_failures(
    conn: Connection, username: str, cleared_at: datetime
) -> None:
    await conn.execute(
        "UPDATE auth.login_failures SET cleared_at = $2"
        " WHERE username = $1 AND cleared_at IS NULL",
        username,
        cleared_at,
    )


async def delete_login_failures_before(conn: Connection, before: datetime) -> int:
    """Delete failures at or before `before`, and return the count."""
    result = await conn.execute(
        "DELETE FROM auth.login_failures WHERE failed_at <= $1", before
    )
    return int(result.split()[-1])


async def lock_project(conn: Connection, project_id: str) -> bool:
    """Lock the project row until the transaction ends; return False if it is missing.

    Membership changes of one project take this lock first, so two owners
    demoting each other at once cannot leave the project without an owner.
    """
    parsed_id = _parse_uuid(project_id)
    if parsed_id is None:
        return False
    row = await conn.fetchrow(
        "SELECT id FROM auth.projects WHERE id = $1 FOR UPDATE", parsed_id
    )
    return row is not None


async def list_members(conn: Connection, project_id: str) -> list[Member]:
    """Return the members of project_id by user name."""
    rows = await conn.fetch(
        "SELECT m.user_id, u.username, m.role, m.created_at"
        " FROM auth.memberships m JOIN auth.users u ON u.id = m.user_id"
        " WHERE m.project_id = $1 ORDER BY u.username",
        uuid.UUID(project_id),
    )
    return [_member_from(row) for row in rows]


async def find_member(conn: Connection, project_id: str, user_id: str) -> Member | None:
    """Return the membership, or None when there is none or an id is malformed."""
    parsed_project = _parse_uuid(project_id)
    parsed_user = _parse_uuid(user_id)
    if parsed_project is None or parsed_user is None:
        return None
    row = await conn.fetchrow(
        "SELECT m.user_id, u.username, m.role, m.created_at"
        " FROM auth.memberships m JOIN auth.users u ON u.id = m.user_id"
        " WHERE m.project_id = $1 AND m.user_id = $2",
        parsed_project,
        parsed_user,
    )
    return _member_from(row) if row else None


async def insert_membership(
    conn: Connection, project_id: str, user_id: str, role: str
) -> datetime | None:
    """Insert a membership and return its creation time, or None when it exists."""
    created_at: datetime | None = await conn.fetchval(
        "INSERT INTO auth.memberships (project_id, user_id, role) VALUES ($1, $2, $3)"
        " ON CONFLICT (project_id, user_id) DO NOTHING RETURNING created_at",
        uuid.UUID(project_id),
        uuid.UUID(user_id),
        role,
    )
    return created_at


async def update_member_role(
    conn: Connection, project_id: str, user_id: str, role: str
) -> None:
    await conn.execute(
        "UPDATE auth.memberships SET role = $3 WHERE project_id = $1 AND user_id = $2",
        uuid.UUID(project_id),
        uuid.UUID(user_id),
        role,
    )


async def delete_membership(conn: Connection, project_id: str, user_id: str) -> None:
    await conn.execute(
        "DELETE FROM auth.memberships WHERE project_id = $1 AND user_id = $2",
        uuid.UUID(project_id),
        uuid.UUID(user_id),
    )


async def count_owners(conn: Connection, project_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM auth.memberships"
        " WHERE project_id = $1 AND role = 'owner'",
        uuid.UUID(project_id),
    )
    return count


async def revoke_user_sessions(
    conn: Connection, user_id: str, revoked_at: datetime
) -> int:
    """Revoke every live session of user_id and return how many there were."""
    result = await conn.execute(
        "UPDATE auth.sessions SET revoked_at = $2"
        " WHERE user_id = $1 AND revoked_at IS NULL",
        uuid.UUID(user_id),
        revoked_at,
    )
    return int(result.split()[-1])


async def list_audit_events(
    conn: Connection,
    project_id: str,
    *,
    action: str,
    status: str,
    limit: int,
    before_id: int,
) -> list[StoredAuditEvent]:
    """Return up to limit events of project_id, newest (highest id) first.

    An empty action or status matches every value; before_id 0 starts at the
    newest event.
    """
    rows = await conn.fetch(
        "SELECT id, created_at, actor_id, actor_kind, action, status, target,"
        " trace_id, request_id, details::text AS details_json"
        " FROM auth.audit_events"
        " WHERE project_id = $1"
        " AND ($2 = '' OR action = $2)"
        " AND ($3 = '' OR status = $3)"
        " AND ($4 = 0 OR id < $4)"
        " ORDER BY id DESC LIMIT $5",
        uuid.UUID(project_id),
        action,
        status,
        before_id,
        limit,
    )
    return [
        StoredAuditEvent(
            id=row["id"],
            created_at=row["created_at"],
            actor_id=row["actor_id"],
            actor_kind=row["actor_kind"],
            action=row["action"],
            status=row["status"],
            target=row["target"],
            trace_id=row["trace_id"],
            request_id=row["request_id"],
            details_json=row["details_json"],
        )
        for row in rows
    ]
