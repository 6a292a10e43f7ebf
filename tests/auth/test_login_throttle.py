from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.auth import throttle
from services.auth.grpc_api import AuthServicer
from services.auth.sessions import SessionConfig
from services.common.grpc_server import create_server
from tests.auth.helpers import (
    TOKEN_SECRET,
    audit_rows,
    create_user,
    error_reason,
    service_metadata,
)

PASSWORD = "correct horse battery staple"
POLICY = throttle.ThrottlePolicy(
    max_failures_per_username=3, max_failures_per_address=5, window_seconds=900
)


@pytest.fixture
async def stub(
    auth_pool: asyncpg.Pool, session_config: SessionConfig
) -> AsyncIterator[auth_pb2_grpc.AuthServiceStub]:
    """A real auth server with small throttling limits."""
    server = create_server(TOKEN_SECRET, 4 * 1024 * 1024)
    servicer = AuthServicer(auth_pool, session_config, POLICY)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield auth_pb2_grpc.AuthServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(None)


async def login(
    stub: auth_pb2_grpc.AuthServiceStub,
    username: str,
    password: str,
    address: str = "192.0.2.1",
) -> auth_pb2.LoginResponse:
    request = auth_pb2.LoginRequest(
        username=username, password=password, client_address=address
    )
    return await stub.Login(request, metadata=service_metadata())


async def failed_login(
    stub: auth_pb2_grpc.AuthServiceStub,
    username: str,
    password: str,
    address: str = "192.0.2.1",
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await login(stub, username, password, address)
    return caught.value


def retry_delay_seconds(error: grpc.aio.AioRpcError) -> int:
    """Return the RetryInfo delay in the status details of error."""
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        for detail in status_pb2.Status.FromString(value).details:
            retry = error_details_pb2.RetryInfo()
            if isinstance(detail, any_pb2.Any) and detail.Unpack(retry):
                return int(retry.retry_delay.seconds)
    raise AssertionError(f"no RetryInfo in the status of {error!r}")


async def test_username_over_limit_is_throttled(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)
    for _ in range(3):
        await failed_login(stub, "alice", "wrong password")

    error = await failed_login(stub, "alice", PASSWORD)

    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(error) == "too_many_attempts"
    assert 890 <= retry_delay_seconds(error) <= 900


async def test_throttle_counts_unknown_user_names(
    stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    for _ in range(3):
        await failed_login(stub, "nobody", "guess")

    error = await failed_login(stub, "nobody", "guess")

    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_address_over_limit_is_throttled(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)
    for index in range(5):
        await failed_login(stub, f"guess-{index}", "guess")

    throttled = await failed_login(stub, "alice", PASSWORD)
    other_address = await login(stub, "alice", PASSWORD, address="192.0.2.2")

    assert throttled.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 890 <= retry_delay_seconds(throttled) <= 900
    assert other_address.user.username == "alice"


async def test_retry_delay_follows_oldest_counted_failure(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    for _ in range(3):
        await failed_login(stub, "alice", "guess")
    await auth_pool.execute(
        "UPDATE auth.login_failures SET failed_at = now() - interval '600 seconds'"
    )

    error = await failed_login(stub, "alice", "guess")

    assert 290 <= retry_delay_seconds(error) <= 300


async def test_failures_outside_window_are_not_counted(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)
    for _ in range(3):
        await failed_login(stub, "alice", "guess")
    await auth_pool.execute(
        "UPDATE auth.login_failures SET failed_at = now() - interval '901 seconds'"
    )

    response = await login(stub, "alice", PASSWORD)

    assert response.user.username == "alice"


async def test_success_clears_username_failures(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)
    for _ in range(2):
        await failed_login(stub, "alice", "guess")
    await login(stub, "alice", PASSWORD)
    for _ in range(2):
        await failed_login(stub, "alice", "guess")

    # Four failures in the window, but only two since the last success.
    response = await login(stub, "alice", PASSWORD)

    assert response.user.username == "alice"


async def test_cleared_failures_still_count_for_address(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)
    for _ in range(2):
        await failed_login(stub, "alice", "guess")
    await login(stub, "alice", PASSWORD)
    for index in range(3):
        await failed_login(stub, f"guess-{index}", "guess")

    error = await failed_login(stub, "alice", PASSWORD)

    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_successful_login_leaves_no_failure(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    await create_user(auth_pool, "alice", PASSWORD)

    await login(stub, "alice", PASSWORD)
    count = await auth_pool.fetchval("SELECT count(*) FROM auth.login_failures")

    assert count == 0


async def test_throttled_attempt_is_audited_as_failed(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    for _ in range(3):
        await failed_login(stub, "alice", "guess")

    await failed_login(stub, "alice", "guess")
    rows = await audit_rows(auth_pool, "auth.login")

    assert len(rows) == 4
    throttled = rows[-1]
    assert throttled["status"] == "failed"
    assert throttled["actor_id"] == "alice"
    assert throttled["actor_kind"] == "anonymous"
    assert '"reason": "throttled"' in throttled["details"]
    assert '"client_address": "192.0.2.1"' in throttled["details"]


async def test_throttled_attempt_is_not_counted(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    for _ in range(3):
        await failed_login(stub, "alice", "guess")

    for _ in range(2):
        await failed_login(stub, "alice", "guess")
    count = await auth_pool.fetchval("SELECT count(*) FROM auth.login_failures")

    assert count == 3


async def test_purge_deletes_failures_outside_window(
    stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    for _ in range(2):
        await failed_login(stub, "alice", "guess")
    await auth_pool.execute(
        "UPDATE auth.login_failures SET failed_at = now() - interval '1 hour'"
        " WHERE id = (SELECT min(id) FROM auth.login_failures)"
    )

    deleted = await throttle.purge_old_failures(
        auth_pool, POLICY, datetime.now(UTC) + timedelta(seconds=1)
    )
    remaining = await auth_pool.fetchval("SELECT count(*) FROM auth.login_failures")

    assert deleted == 1
    assert remaining == 1
