import json
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
Stub = auth_pb2_grpc.AuthServiceStub


@pytest.fixture
async def alice(auth_pool: asyncpg.Pool) -> repository.User:
    return await create_user(auth_pool, "alice", PASSWORD)


@pytest.fixture
async def bob(auth_pool: asyncpg.Pool) -> repository.User:
    return await create_user(auth_pool, "bob", PASSWORD)


@pytest.fixture
async def project(auth_stub: Stub, alice: repository.User) -> auth_pb2.Project:
    """A project owned by alice."""
    request = auth_pb2.CreateProjectRequest(name="Support")
    return await auth_stub.CreateProject(request, metadata=user_metadata(alice.id))


async def add(
    stub: Stub,
    caller: repository.User,
    project_id: str,
    username: str,
    role: str,
    initial_password: str = "",
) -> auth_pb2.AddMemberResponse:
    request = auth_pb2.AddMemberRequest(
        project_id=project_id,
        username=username,
        role=role,
        initial_password=initial_password,
    )
    return await stub.AddMember(request, metadata=user_metadata(caller.id))


async def change(
    stub: Stub, caller: repository.User, project_id: str, user_id: str, role: str
) -> auth_pb2.Member:
    request = auth_pb2.ChangeMemberRoleRequest(
        project_id=project_id, user_id=user_id, role=role
    )
    return await stub.ChangeMemberRole(request, metadata=user_metadata(caller.id))


async def remove(
    stub: Stub, caller: repository.User, project_id: str, user_id: str
) -> None:
    request = auth_pb2.RemoveMemberRequest(project_id=project_id, user_id=user_id)
    await stub.RemoveMember(request, metadata=user_metadata(caller.id))


async def listed(
    stub: Stub, caller: repository.User, project_id: str
) -> list[tuple[str, str]]:
    request = auth_pb2.ListMembersRequest(project_id=project_id)
    response = await stub.ListMembers(request, metadata=user_metadata(caller.id))
    return [(member.username, member.role) for member in response.members]


async def login(stub: Stub, username: str, password: str = PASSWORD) -> str:
    request = auth_pb2.LoginRequest(username=username, password=password)
    response = await stub.Login(request, metadata=service_metadata())
    return str(response.session_token)


async def resolve(stub: Stub, token: str) -> auth_pb2.ResolveSessionResponse:
    request = auth_pb2.ResolveSessionRequest(session_token=token)
    return await stub.ResolveSession(request, metadata=service_metadata())


async def rejected(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_add_existing_user_as_member(
    auth_stub: Stub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    added = await add(auth_stub, alice, project.id, "bob", "member")

    rows = await audit_rows(auth_pool, "member.add")

    assert added.user_created is False
    assert added.member.user_id == bob.id
    assert added.member.role == "member"
    assert added.member.created_at.seconds > 0
    assert await listed(auth_stub, alice, project.id) == [
        ("alice", "owner"),
        ("bob", "member"),
    ]
    assert len(rows) == 1
    assert rows[0]["actor_id"] == alice.id
    assert rows[0]["target"] == bob.id
    assert str(rows[0]["project_id"]) == project.id


async def test_add_new_user_with_initial_password(
    auth_stub: Stub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
    project: auth_pb2.Project,
) -> None:
    added = await add(
        auth_stub, alice, project.id, "carol", "viewer", "a-long-initial-pw"
    )
    stored_hash = await auth_pool.fetchval(
        "SELECT password_hash FROM auth.users WHERE username = 'carol'"
    )
    created = await audit_rows(auth_pool, "user.create")

    token = await login(auth_stub, "carol", "a-long-initial-pw")

    assert added.user_created is True
    assert added.member.username == "carol"
    assert stored_hash.startswith("$argon2id$")
    assert token
    assert [row["target"] for row in created] == [added.member.user_id]


@pytest.mark.parametrize("password", ["", "eleven-char"])
async def test_new_user_needs_12_character_password(
    auth_stub: Stub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
    project: auth_pb2.Project,
    password: str,
) -> None:
    error = await rejected(
        add(auth_stub, alice, project.id, "carol", "member", password)
    )
    users = await auth_pool.fetchval("SELECT count(*) FROM auth.users")

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "invalid_password"
    assert users == 1


async def test_existing_user_rejects_initial_password(
    auth_stub: Stub,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    error = await rejected(
        add(auth_stub, alice, project.id, "bob", "member", "a-long-initial-pw")
    )

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "invalid_password"


@pytest.mark.parametrize(
    ("username", "role", "reason"),
    [
        ("bob", "superuser", "invalid_role"),
        (" bob", "member", "invalid_username"),
        ("b\nob", "member", "invalid_username"),
        ("", "member", "invalid_username"),
    ],
)
async def test_add_rejects_invalid_input(
    auth_stub: Stub,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
    username: str,
    role: str,
    reason: str,
) -> None:
    error = await rejected(add(auth_stub, alice, project.id, username, role))

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == reason


async def test_adding_member_twice_conflicts(
    auth_stub: Stub,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    await add(auth_stub, alice, project.id, "bob", "member")

    error = await rejected(add(auth_stub, alice, project.id, "bob", "admin"))

    assert error.code() is grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(error) == "member_exists"


async def test_role_change_revokes_member_sessions(
    auth_stub: Stub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    await add(auth_stub, alice, project.id, "bob", "member")
    old_token = await login(auth_stub, "bob")

    changed = await change(auth_stub, alice, project.id, bob.id, "admin")
    error = await rejected(resolve(auth_stub, old_token))
    new_token = await login(auth_stub, "bob")
    rows = await audit_rows(auth_pool, "member.role_change")

    assert changed.role == "admin"
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert new_token != old_token
    assert (await resolve(auth_stub, new_token)).user.id == bob.id
    assert len(rows) == 1
    details = json.loads(rows[0]["details"])
    assert details == {"old_role": "member", "new_role": "admin", "sessions_revoked": 1}


async def test_same_role_keeps_sessions(
    auth_stub: Stub,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    await add(auth_stub, alice, project.id, "bob", "member")
    token = await login(auth_stub, "bob")

    await change(auth_stub, alice, project.id, bob.id, "member")

    assert (await resolve(auth_stub, token)).user.id == bob.id


async def test_remove_member_revokes_sessions(
    auth_stub: Stub,
    auth_pool: asyncpg.Pool,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    await add(auth_stub, alice, project.id, "bob", "member")
    token = await login(auth_stub, "bob")

    await remove(auth_stub, alice, project.id, bob.id)
    error = await rejected(resolve(auth_stub, token))
    rows = await audit_rows(auth_pool, "member.remove")

    assert await listed(auth_stub, alice, project.id) == [("alice", "owner")]
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert [row["target"] for row in rows] == [bob.id]


async def test_remove_unknown_member_is_not_found(
    auth_stub: Stub,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    for user_id in (bob.id, str(uuid.uuid4()), "not-a-uuid"):
        error = await rejected(remove(auth_stub, alice, project.id, user_id))

        assert error.code() is grpc.StatusCode.NOT_FOUND
        assert error_reason(error) == "member_not_found"


async def test_last_owner_cannot_be_demoted_or_removed(
    auth_stub: Stub,
    alice: repository.User,
    project: auth_pb2.Project,
) -> None:
    demoted = await rejected(change(auth_stub, alice, project.id, alice.id, "admin"))
    removed = await rejected(remove(auth_stub, alice, project.id, alice.id))

    assert demoted.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(demoted) == "last_owner"
    assert removed.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(removed) == "last_owner"
    assert await listed(auth_stub, alice, project.id) == [("alice", "owner")]


async def test_owner_can_step_down_after_second_owner(
    auth_stub: Stub,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    await add(auth_stub, alice, project.id, "bob", "owner")

    await change(auth_stub, alice, project.id, alice.id, "viewer")
    error = await rejected(change(auth_stub, bob, project.id, bob.id, "admin"))

    assert await listed(auth_stub, bob, project.id) == [
        ("alice", "viewer"),
        ("bob", "owner"),
    ]
    assert error_reason(error) == "last_owner"


@pytest.mark.parametrize("role", ["admin", "member", "viewer"])
async def test_non_owner_is_denied(
    auth_stub: Stub,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
    role: str,
) -> None:
    await add(auth_stub, alice, project.id, "bob", role)

    calls = [
        listed(auth_stub, bob, project.id),
        add(auth_stub, bob, project.id, "carol", "member", "a-long-initial-pw"),
        change(auth_stub, bob, project.id, alice.id, "viewer"),
        remove(auth_stub, bob, project.id, alice.id),
    ]
    for call in calls:
        error = await rejected(call)

        assert error.code() is grpc.StatusCode.PERMISSION_DENIED
        assert error_reason(error) == "owner_required"


async def test_other_project_is_not_found(
    auth_stub: Stub,
    alice: repository.User,
    bob: repository.User,
    project: auth_pb2.Project,
) -> None:
    for project_id in (project.id, str(uuid.uuid4()), "not-a-uuid"):
        calls = [
            listed(auth_stub, bob, project_id),
            add(auth_stub, bob, project_id, "bob", "member"),
            change(auth_stub, bob, project_id, alice.id, "viewer"),
            remove(auth_stub, bob, project_id, alice.id),
        ]
        for call in calls:
            error = await rejected(call)

            assert error.code() is grpc.StatusCode.NOT_FOUND
            assert error_reason(error) == "project_not_found"


async def test_member_calls_need_user_principal(
    auth_stub: Stub, project: auth_pb2.Project
) -> None:
    request = auth_pb2.ListMembersRequest(project_id=project.id)

    error = await rejected(auth_stub.ListMembers(request, metadata=service_metadata()))

    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(error) == "caller_not_allowed"
