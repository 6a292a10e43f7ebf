from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.auth import repository
from services.auth.sessions import hash_session_token
from tests.auth.helpers import (
    IDLE_SECONDS,
    audit_rows,
    create_user,
    error_reason,
    service_metadata,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def alice(auth_pool: asyncpg.Pool) -> repository.User:
    return await create_user(auth_pool, "alice", PASSWORD)


async def login(stub: auth_pb2_grpc.AuthServiceStub) -> auth_pb2.LoginResponse:
    request = auth_pb2.LoginRequest(username="alice", password=PASSWORD)
    return await stub.Login(request, metadata=service_metadata())


async def resolve(
    stub: auth_pb2_grpc.AuthServiceStub, token: str
) -> auth_pb2.ResolveSessionResponse:
    request = auth_pb2.ResolveSessionRequest(session_token=token)
    return await stub.ResolveSession(request, metadata=service_metadata())


async def rejected_resolve(
    stub: auth_pb2_grpc.AuthServiceStub, token: str
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await resolve(stub, token)
    return caught.value


async def update_session(pool: asyncpg.Pool, token: str, assignments: str) -> None:
    """Rewrite columns of one session, for example to move its expiry into the past."""
    await pool.execute(
        f"UPDATE auth.sessions SET {assignments} WHERE id_hash = $1",
        hash_session_token(token),
    )


async def test_resolve_returns_user_and_csrf_token(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    session = await login(auth_stub)

    resolved = await resolve(auth_stub, session.session_token)

    assert resolved.user.id == alice.id
    assert resolved.user.username == "alice"
    assert resolved.csrf_token == session.csrf_token
    assert resolved.active_project_id == ""
    assert resolved.role == ""


async def test_csrf_token_differs_between_sessions(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    first = await login(auth_stub)
    second = await login(auth_stub)

    first_resolved = await resolve(auth_stub, first.session_token)
    second_resolved = await resolve(auth_stub, second.session_token)

    assert first.session_token != second.session_token
    assert first.csrf_token != second.csrf_token
    assert first_resolved.csrf_token == first.csrf_token
    assert second_resolved.csrf_token == second.csrf_token


async def test_logout_revokes_session_at_once(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    session = await login(auth_stub)
    await resolve(auth_stub, session.session_token)

    await auth_stub.Logout(
        auth_pb2.LogoutRequest(session_token=session.session_token),
        metadata=service_metadata(),
    )
    error = await rejected_resolve(auth_stub, session.session_token)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "session_invalid"


async def test_logout_leaves_other_sessions_live(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    ended = await login(auth_stub)
    other = await login(auth_stub)

    await auth_stub.Logout(
        auth_pb2.LogoutRequest(session_token=ended.session_token),
        metadata=service_metadata(),
    )
    resolved = await resolve(auth_stub, other.session_token)

    assert resolved.user.id == alice.id


async def test_logout_is_audited(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    session = await login(auth_stub)

    await auth_stub.Logout(
        auth_pb2.LogoutRequest(session_token=session.session_token),
        metadata=service_metadata(),
    )
    rows = await audit_rows(auth_pool, "auth.logout")

    assert len(rows) == 1
    assert rows[0]["status"] == "ok"
    assert rows[0]["actor_id"] == alice.id
    assert rows[0]["actor_kind"] == "user"


async def test_second_logout_fails(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    session = await login(auth_stub)
    request = auth_pb2.LogoutRequest(session_token=session.session_token)
    await auth_stub.Logout(request, metadata=service_metadata())

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await auth_stub.Logout(request, metadata=service_metadata())

    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(caught.value) == "session_invalid"


async def test_idle_expired_session_is_rejected(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    session = await login(auth_stub)
    await update_session(
        auth_pool,
        session.session_token,
        "idle_expires_at = now() - interval '1 second',"
        " last_seen_at = now() - interval '9 hours'",
    )

    error = await rejected_resolve(auth_stub, session.session_token)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "session_invalid"


async def test_absolute_expired_session_is_rejected(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    session = await login(auth_stub)
    await update_session(
        auth_pool,
        session.session_token,
        "absolute_expires_at = now() - interval '1 second',"
        " idle_expires_at = now() + interval '1 hour'",
    )

    error = await rejected_resolve(auth_stub, session.session_token)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "session_invalid"


async def test_resolve_slides_idle_expiry(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    session = await login(auth_stub)
    await update_session(
        auth_pool,
        session.session_token,
        "last_seen_at = now() - interval '2 minutes',"
        " idle_expires_at = now() + interval '5 minutes'",
    )

    before = datetime.now(UTC)
    resolved = await resolve(auth_stub, session.session_token)
    row = await auth_pool.fetchrow("SELECT * FROM auth.sessions")

    assert row is not None
    expected = before + timedelta(seconds=IDLE_SECONDS)
    assert row["idle_expires_at"] >= expected
    assert row["last_seen_at"] >= before
    assert resolved.expires_at.ToDatetime(tzinfo=UTC) == row["idle_expires_at"]


async def test_resolve_skips_write_within_a_minute(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    session = await login(auth_stub)
    await update_session(
        auth_pool,
        session.session_token,
        "last_seen_at = now() - interval '30 seconds',"
        " idle_expires_at = now() + interval '5 minutes'",
    )
    before = await auth_pool.fetchrow("SELECT * FROM auth.sessions")

    await resolve(auth_stub, session.session_token)
    after = await auth_pool.fetchrow("SELECT * FROM auth.sessions")

    assert before is not None
    assert after is not None
    assert after["last_seen_at"] == before["last_seen_at"]
    assert after["idle_expires_at"] == before["idle_expires_at"]


async def test_sliding_stops_at_absolute_expiry(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    session = await login(auth_stub)
    await update_session(
        auth_pool,
        session.session_token,
        "last_seen_at = now() - interval '2 minutes',"
        " absolute_expires_at = now() + interval '10 minutes'",
    )

    await resolve(auth_stub, session.session_token)
    row = await auth_pool.fetchrow("SELECT * FROM auth.sessions")

    assert row is not None
    assert row["idle_expires_at"] == row["absolute_expires_at"]


@pytest.mark.parametrize("token", ["", "not-a-session", "x" * 500])
async def test_unknown_or_malformed_token_is_rejected(
    auth_stub: auth_pb2_grpc.AuthServiceStub, token: str
) -> None:
    error = await rejected_resolve(auth_stub, token)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "session_invalid"


async def test_session_of_disabled_user_is_rejected(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    session = await login(auth_stub)
    await auth_pool.execute("UPDATE auth.users SET disabled_at = now()")

    error = await rejected_resolve(auth_stub, session.session_token)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "session_invalid"
