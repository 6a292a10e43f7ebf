from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.common.grpc_client import call_metadata
from services.common.internal_auth import issue_token, service_principal
from tests.auth.helpers import (
    TOKEN_SECRET,
    error_reason,
    service_metadata,
    user_metadata,
)

USER_ID = "00000000-0000-0000-0000-0000000000a1"

Call = Callable[
    [auth_pb2_grpc.AuthServiceStub, tuple[tuple[str, str], ...]], Awaitable[Any]
]

SERVICE_ONLY_CALLS: dict[str, Call] = {
    "Login": lambda stub, md: stub.Login(
        auth_pb2.LoginRequest(username="alice", password="x"), metadata=md
    ),
    "ResolveSession": lambda stub, md: stub.ResolveSession(
        auth_pb2.ResolveSessionRequest(session_token="t"), metadata=md
    ),
    "Logout": lambda stub, md: stub.Logout(
        auth_pb2.LogoutRequest(session_token="t"), metadata=md
    ),
    "SelectProject": lambda stub, md: stub.SelectProject(
        auth_pb2.SelectProjectRequest(session_token="t", project_id=USER_ID),
        metadata=md,
    ),
}
USER_ONLY_CALLS: dict[str, Call] = {
    "ListProjects": lambda stub, md: stub.ListProjects(
        auth_pb2.ListProjectsRequest(), metadata=md
    ),
    "CreateProject": lambda stub, md: stub.CreateProject(
        auth_pb2.CreateProjectRequest(name="p"), metadata=md
    ),
}


async def rejected(
    stub: auth_pb2_grpc.AuthServiceStub,
    call: Call,
    metadata: tuple[tuple[str, str], ...],
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(stub, metadata)
    return caught.value


async def test_missing_internal_token_is_unauthenticated(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    error = await rejected(auth_stub, SERVICE_ONLY_CALLS["Login"], ())

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "token_missing"


async def test_forged_internal_token_is_unauthenticated(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    forged = call_metadata(
        service_principal("gateway"), "another-secret-of-32-bytes-or-more"
    )

    error = await rejected(auth_stub, SERVICE_ONLY_CALLS["Login"], forged)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "token_invalid"


async def test_expired_internal_token_is_unauthenticated(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    token = issue_token(service_principal("gateway"), TOKEN_SECRET, ttl_seconds=-5)
    expired = (("authorization", f"Bearer {token}"),)

    error = await rejected(auth_stub, SERVICE_ONLY_CALLS["Login"], expired)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "token_expired"


@pytest.mark.parametrize("method", sorted(SERVICE_ONLY_CALLS))
async def test_user_principal_cannot_call_service_methods(
    auth_stub: auth_pb2_grpc.AuthServiceStub, method: str
) -> None:
    error = await rejected(
        auth_stub, SERVICE_ONLY_CALLS[method], user_metadata(USER_ID)
    )

    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(error) == "caller_not_allowed"


@pytest.mark.parametrize("method", sorted(USER_ONLY_CALLS))
async def test_service_principal_cannot_call_user_methods(
    auth_stub: auth_pb2_grpc.AuthServiceStub, method: str
) -> None:
    error = await rejected(auth_stub, USER_ONLY_CALLS[method], service_metadata())

    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(error) == "caller_not_allowed"
