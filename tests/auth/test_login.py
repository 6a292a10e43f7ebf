import hashlib

import asyncpg
import grpc
import pytest
from argon2 import PasswordHasher, extract_parameters

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from tests.auth.helpers import (
    audit_rows,
    create_user,
    error_reason,
    service_metadata,
)

PASSWORD = "correct horse battery staple"


async def login(
    stub: auth_pb2_grpc.AuthServiceStub, username: str, password: str
) -> auth_pb2.LoginResponse:
    request = auth_pb2.LoginRequest(
        username=username,
        password=password,
        client_address="127.0.0.1",
        user_agent="pytest",
    )
    return await stub.Login(request, metadata=service_metadata())


async def failed_login(
    stub: auth_pb2_grpc.AuthServiceStub, username: str, password: str
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(stub, username, password)
    return caught.value


async def test_login_returns_session_and_user(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    alice = await create_user(auth_pool, "alice", PASSWORD)

    response = await login(auth_stub, "alice", PASSWORD)

    assert response.user.id == alice.id
    assert response.user.username == "alice"
    assert len(response.session_token) >= 43
    assert len(response.csrf_token) == 64
    assert response.expires_at.seconds > 0


async def test_unknown_user_fails_like_wrong_password(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)

    wrong_password = await failed_login(auth_stub, "alice", "not the password")
    unknown_user = await failed_login(auth_stub, "mallory", PASSWORD)

    assert wrong_password.code() is grpc.StatusCode.UNAUTHENTICATED
    assert unknown_user.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(wrong_password) == "invalid_credentials"
    assert error_reason(unknown_user) == "invalid_credentials"
    assert wrong_password.details() == unknown_user.details()


async def test_disabled_user_cannot_log_in(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)
    await auth_pool.execute(
        "UPDATE auth.users SET disabled_at = now() WHERE username = 'alice'"
    )

    error = await failed_login(auth_stub, "alice", PASSWORD)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "invalid_credentials"


async def test_password_is_stored_as_argon2id_hash(auth_pool: asyncpg.Pool) -> None:
    await create_user(auth_pool, "alice", PASSWORD)

    stored = await auth_pool.fetchval(
        "SELECT password_hash FROM auth.users WHERE username = 'alice'"
    )

    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


async def test_session_token_stored_only_hashed(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)

    response = await login(auth_stub, "alice", PASSWORD)
    row = await auth_pool.fetchrow("SELECT * FROM auth.sessions")

    assert row is not None
    expected_hash = hashlib.sha256(response.session_token.encode()).hexdigest()
    assert row["id_hash"] == expected_hash
    stored_text = " ".join(str(value) for value in row.values())
    assert response.session_token not in stored_text
    assert response.csrf_token not in stored_text


async def test_login_records_client_and_expiries(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)

    response = await login(auth_stub, "alice", PASSWORD)
    row = await auth_pool.fetchrow("SELECT * FROM auth.sessions")

    assert row is not None
    assert row["client_address"] == "127.0.0.1"
    assert row["user_agent"] == "pytest"
    assert row["active_project_id"] is None
    assert row["revoked_at"] is None
    assert row["idle_expires_at"] < row["absolute_expires_at"]
    assert response.expires_at.ToDatetime().timestamp() == pytest.approx(
        row["idle_expires_at"].timestamp(), abs=1e-3
    )


async def test_login_is_audited_with_outcome(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    alice = await create_user(auth_pool, "alice", PASSWORD)

    await login(auth_stub, "alice", PASSWORD)
    await failed_login(auth_stub, "alice", "guess-one")
    await failed_login(auth_stub, "nobody", "guess-two")
    ok_row, wrong_password_row, unknown_user_row = await audit_rows(
        auth_pool, "auth.login"
    )

    assert ok_row["status"] == "ok"
    assert ok_row["actor_id"] == alice.id
    assert ok_row["actor_kind"] == "user"
    assert ok_row["request_id"] != ""
    assert wrong_password_row["status"] == "failed"
    assert wrong_password_row["actor_id"] == "alice"
    assert wrong_password_row["actor_kind"] == "anonymous"
    assert unknown_user_row["status"] == "failed"
    assert unknown_user_row["actor_id"] == "nobody"


async def test_failed_login_audit_omits_password(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)

    await failed_login(auth_stub, "alice", "secret-guess-123")
    rows = await audit_rows(auth_pool, "auth.login")

    assert len(rows) == 1
    stored_text = " ".join(str(value) for value in rows[0].values())
    assert "secret-guess-123" not in stored_text


async def test_outdated_hash_is_upgraded_at_login(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    cheap_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024).hash(PASSWORD)
    await auth_pool.execute(
        "INSERT INTO auth.users (username, password_hash) VALUES ('alice', $1)",
        cheap_hash,
    )

    await login(auth_stub, "alice", PASSWORD)
    stored = await auth_pool.fetchval(
        "SELECT password_hash FROM auth.users WHERE username = 'alice'"
    )

    assert stored != cheap_hash
    assert extract_parameters(stored) == extract_parameters(PasswordHasher().hash("x"))


async def test_corrupt_stored_hash_fails_login(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await auth_pool.execute(
        "INSERT INTO auth.users (username, password_hash) VALUES ('alice', 'plain')"
    )

    error = await failed_login(auth_stub, "alice", "plain")

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "invalid_credentials"


async def test_nul_in_username_fails_login(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    error = await failed_login(auth_stub, "ali\x00ce", PASSWORD)
    rows = await audit_rows(auth_pool, "auth.login")

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "invalid_credentials"
    assert [row["actor_id"] for row in rows] == ["alice"]


async def test_nul_in_client_info_is_dropped(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)
    request = auth_pb2.LoginRequest(
        username="alice",
        password=PASSWORD,
        client_address="127.0.0.1\x00",
        user_agent="agent\x00" + "x" * 1000,
    )

    await auth_stub.Login(request, metadata=service_metadata())
    row = await auth_pool.fetchrow("SELECT * FROM auth.sessions")

    assert row is not None
    assert row["client_address"] == "127.0.0.1"
    assert row["user_agent"].startswith("agentxxx")
    assert len(row["user_agent"]) == 512
