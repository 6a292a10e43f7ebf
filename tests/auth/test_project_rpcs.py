import uuid

import asyncpg
import grpc
import pytest

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.auth import repository
from tests.auth.helpers import (
    audit_rows,
    create_user,
    error_reason,
    service_metadata,
    user_metadata,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture
async def alice(auth_pool: asyncpg.Pool) -> repository.User:
    return await create_user(auth_pool, "alice", PASSWORD)


@pytest.fixture
async def bob(auth_pool: asyncpg.Pool) -> repository.User:
    return await create_user(auth_pool, "bob", PASSWORD)


async def create_project(
    stub: auth_pb2_grpc.AuthServiceStub, user: repository.User, name: str
) -> auth_pb2.Project:
    request = auth_pb2.CreateProjectRequest(name=name)
    return await stub.CreateProject(request, metadata=user_metadata(user.id))


async def list_projects(
    stub: auth_pb2_grpc.AuthServiceStub, user: repository.User
) -> list[auth_pb2.Project]:
    request = auth_pb2.ListProjectsRequest()
    response = await stub.ListProjects(request, metadata=user_metadata(user.id))
    return list(response.projects)


async def login(stub: auth_pb2_grpc.AuthServiceStub, username: str) -> str:
    request = auth_pb2.LoginRequest(username=username, password=PASSWORD)
    response = await stub.Login(request, metadata=service_metadata())
    return str(response.session_token)


async def select_project(
    stub: auth_pb2_grpc.AuthServiceStub, token: str, project_id: str
) -> auth_pb2.SelectProjectResponse:
    request = auth_pb2.SelectProjectRequest(session_token=token, project_id=project_id)
    return await stub.SelectProject(request, metadata=service_metadata())


async def rejected_select(
    stub: auth_pb2_grpc.AuthServiceStub, token: str, project_id: str
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await select_project(stub, token, project_id)
    return caught.value


async def test_create_project_makes_creator_owner(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    created = await create_project(auth_stub, alice, "  Support desk  ")

    listed = await list_projects(auth_stub, alice)

    assert created.name == "Support desk"
    assert created.role == "owner"
    assert created.created_at.seconds > 0
    assert [(p.id, p.name, p.role) for p in listed] == [
        (created.id, "Support desk", "owner")
    ]


async def test_create_project_is_audited(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    created = await create_project(auth_stub, alice, "Support desk")

    rows = await audit_rows(auth_pool, "project.create")

    assert len(rows) == 1
    assert rows[0]["status"] == "ok"
    assert str(rows[0]["project_id"]) == created.id
    assert rows[0]["actor_id"] == alice.id
    assert rows[0]["actor_kind"] == "user"


async def test_project_names_need_not_be_unique(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    first = await create_project(auth_stub, alice, "Support")
    second = await create_project(auth_stub, alice, "Support")

    assert first.id != second.id
    assert len(await list_projects(auth_stub, alice)) == 2


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "line\nbreak"])
async def test_invalid_project_name_is_rejected(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User, name: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create_project(auth_stub, alice, name)

    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "invalid_project_name"


async def test_project_name_100_characters_accepted(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    created = await create_project(auth_stub, alice, " " + "é" * 100 + " ")

    assert created.name == "é" * 100


async def test_list_shows_only_own_projects(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    alice: repository.User,
    bob: repository.User,
) -> None:
    await create_project(auth_stub, alice, "Alice's")
    bobs = await create_project(auth_stub, bob, "Bob's")

    listed = await list_projects(auth_stub, bob)

    assert [project.id for project in listed] == [bobs.id]


async def test_unknown_user_cannot_create_project(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    stranger = repository.User(
        id=str(uuid.uuid4()), username="ghost", password_hash="", disabled_at=None
    )

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await create_project(auth_stub, stranger, "Haunted")

    assert caught.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(caught.value) == "user_inactive"


async def test_select_sets_active_project_and_role(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    project = await create_project(auth_stub, alice, "Support")
    token = await login(auth_stub, "alice")

    selected = await select_project(auth_stub, token, project.id)
    resolved = await auth_stub.ResolveSession(
        auth_pb2.ResolveSessionRequest(session_token=token),
        metadata=service_metadata(),
    )

    assert selected.project.id == project.id
    assert selected.project.role == "owner"
    assert resolved.active_project_id == project.id
    assert resolved.role == "owner"


async def test_select_project_is_audited(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    project = await create_project(auth_stub, alice, "Support")
    token = await login(auth_stub, "alice")

    await select_project(auth_stub, token, project.id)
    rows = await audit_rows(auth_pool, "project.select")

    assert len(rows) == 1
    assert str(rows[0]["project_id"]) == project.id
    assert rows[0]["actor_id"] == alice.id


async def test_non_member_cannot_select_foreign_project(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    alice: repository.User,
    bob: repository.User,
) -> None:
    alices = await create_project(auth_stub, alice, "Alice's")
    bob_token = await login(auth_stub, "bob")

    foreign = await rejected_select(auth_stub, bob_token, alices.id)
    missing = await rejected_select(auth_stub, bob_token, str(uuid.uuid4()))
    malformed = await rejected_select(auth_stub, bob_token, "not-a-uuid")

    for error in (foreign, missing, malformed):
        assert error.code() is grpc.StatusCode.NOT_FOUND
        assert error_reason(error) == "project_not_found"


async def test_select_project_with_dead_session_fails(
    auth_stub: auth_pb2_grpc.AuthServiceStub, alice: repository.User
) -> None:
    project = await create_project(auth_stub, alice, "Support")
    token = await login(auth_stub, "alice")
    await auth_stub.Logout(
        auth_pb2.LogoutRequest(session_token=token), metadata=service_metadata()
    )

    error = await rejected_select(auth_stub, token, project.id)

    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(error) == "session_invalid"


async def test_removed_membership_clears_active_project(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
) -> None:
    project = await create_project(auth_stub, alice, "Support")
    token = await login(auth_stub, "alice")
    await select_project(auth_stub, token, project.id)
    await auth_pool.execute("DELETE FROM auth.memberships")

    resolved = await auth_stub.ResolveSession(
        auth_pb2.ResolveSessionRequest(session_token=token),
        metadata=service_metadata(),
    )
    stored_project = await auth_pool.fetchval(
        "SELECT active_project_id FROM auth.sessions"
    )

    assert resolved.active_project_id == ""
    assert resolved.role == ""
    assert stored_project is None
