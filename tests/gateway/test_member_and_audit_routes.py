"""Login throttling, member management and GET /audit through the gateway.

The gateway calls a real auth grpc.aio server on a real Postgres database.
"""

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from gateway.app import create_app
from gateway.clients import connect
from gateway.settings import GatewaySettings
from gen.auth.v1 import auth_pb2_grpc
from services.auth import passwords, repository, throttle
from services.auth.grpc_api import AuthServicer
from services.auth.sessions import SessionConfig
from services.common.grpc_server import create_server
from services.common.migrations import apply_migrations

SECRET = "test-secret-of-thirty-two-bytes-or-more"
AUTH_MIGRATIONS = Path(__file__).resolve().parents[2] / "services/auth/migrations"
PASSWORD = "correct horse battery staple"
POLICY = throttle.ThrottlePolicy(
    max_failures_per_username=2, max_failures_per_address=10, window_seconds=600
)
ClientFactory = Callable[[], httpx.AsyncClient]


@pytest.fixture
async def auth_pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    conn = await asyncpg.connect(database_dsn)
    try:
        await apply_migrations(conn, "auth", AUTH_MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(database_dsn, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def new_client(auth_pool: asyncpg.Pool) -> AsyncIterator[ClientFactory]:
    """Return a factory of HTTP clients, each with its own cookies, on one gateway."""
    server = create_server(SECRET, 4 * 1024 * 1024)
    config = SessionConfig(
        idle_seconds=3600, absolute_seconds=86400, csrf_secret="csrf-secret-for-tests"
    )
    servicer = AuthServicer(auth_pool, config, POLICY)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    address = f"127.0.0.1:{port}"
    settings = GatewaySettings(
        auth_address=address,
        connectors_address=address,
        rag_address=address,
        reconcile_address=address,
        internal_token_secret=SECRET,
    )
    app = create_app(settings)
    app.state.clients = connect(settings)
    transport = httpx.ASGITransport(app=app)
    clients: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=transport, base_url="http://gateway.test")
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.aclose()
    await app.state.clients.close()
    await server.stop(0)


async def create_user(pool: asyncpg.Pool, username: str) -> repository.User:
    password_hash = await passwords.hash_password(PASSWORD)
    async with pool.acquire() as conn:
        return await repository.insert_user(conn, username, password_hash)


async def log_in(client: httpx.AsyncClient, username: str) -> None:
    """Log in and send the CSRF token on every later request of client."""
    response = await client.post(
        "/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    client.headers["x-csrf-token"] = response.json()["csrf_token"]


async def create_and_select(client: httpx.AsyncClient, name: str) -> str:
    created = await client.post("/projects", json={"name": name})
    assert created.status_code == 201, created.text
    project_id: str = created.json()["id"]
    selected = await client.post(f"/projects/{project_id}/select")
    assert selected.status_code == 200, selected.text
    return project_id


@pytest.fixture
async def owner(
    auth_pool: asyncpg.Pool, new_client: ClientFactory
) -> tuple[httpx.AsyncClient, str]:
    """A logged-in owner of a selected project, and the project's id."""
    await create_user(auth_pool, "alice")
    client = new_client()
    await log_in(client, "alice")
    return client, await create_and_select(client, "Support")


async def test_throttled_login_answers_429_with_retry_after(
    auth_pool: asyncpg.Pool, new_client: ClientFactory
) -> None:
    await create_user(auth_pool, "alice")
    client = new_client()
    for _ in range(2):
        await client.post("/auth/login", json={"username": "alice", "password": "x"})

    response = await client.post(
        "/auth/login", json={"username": "alice", "password": PASSWORD}
    )

    assert response.status_code == 429
    assert 590 <= int(response.headers["retry-after"]) <= 600
    error = response.json()["error"]
    assert error["code"] == "too_many_attempts"
    assert error["grpc_code"] == "RESOURCE_EXHAUSTED"
    assert error["request_id"]


async def test_other_errors_have_no_retry_after(new_client: ClientFactory) -> None:
    response = await new_client().post(
        "/auth/login", json={"username": "nobody", "password": "x"}
    )

    assert response.status_code == 401
    assert "retry-after" not in response.headers


async def test_owner_manages_members(
    auth_pool: asyncpg.Pool,
    owner: tuple[httpx.AsyncClient, str],
) -> None:
    client, project_id = owner
    members_path = f"/projects/{project_id}/members"

    added = await client.post(
        members_path,
        json={"username": "bob", "role": "member", "initial_password": PASSWORD},
    )
    bob_id = added.json()["member"]["user_id"]
    changed = await client.patch(f"{members_path}/{bob_id}", json={"role": "admin"})
    listed = await client.get(f"/v1{members_path}")
    removed = await client.delete(f"{members_path}/{bob_id}")
    after_removal = await client.get(members_path)

    assert added.status_code == 201
    assert added.json()["user_created"] is True
    assert changed.json()["member"]["role"] == "admin"
    assert [(m["username"], m["role"]) for m in listed.json()["members"]] == [
        ("alice", "owner"),
        ("bob", "admin"),
    ]
    assert removed.status_code == 204
    assert [m["username"] for m in after_removal.json()["members"]] == ["alice"]


async def test_role_change_ends_member_session(
    auth_pool: asyncpg.Pool,
    new_client: ClientFactory,
    owner: tuple[httpx.AsyncClient, str],
) -> None:
    client, project_id = owner
    bob = await create_user(auth_pool, "bob")
    await client.post(
        f"/projects/{project_id}/members", json={"username": "bob", "role": "member"}
    )
    bob_client = new_client()
    await log_in(bob_client, "bob")
    old_session = bob_client.cookies["opsdesk_session"]

    await client.patch(
        f"/projects/{project_id}/members/{bob.id}", json={"role": "viewer"}
    )
    after_change = await bob_client.get("/auth/me")
    await log_in(bob_client, "bob")

    assert after_change.status_code == 401
    assert (await bob_client.get("/auth/me")).status_code == 200
    assert bob_client.cookies["opsdesk_session"] != old_session


async def test_member_routes_need_csrf(owner: tuple[httpx.AsyncClient, str]) -> None:
    client, project_id = owner
    del client.headers["x-csrf-token"]

    response = await client.post(
        f"/projects/{project_id}/members", json={"username": "bob", "role": "member"}
    )

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_invalid"


async def test_non_owner_gets_403_and_stranger_404(
    auth_pool: asyncpg.Pool,
    new_client: ClientFactory,
    owner: tuple[httpx.AsyncClient, str],
) -> None:
    client, project_id = owner
    await create_user(auth_pool, "bob")
    await create_user(auth_pool, "carol")
    await client.post(
        f"/projects/{project_id}/members", json={"username": "bob", "role": "admin"}
    )
    bob_client = new_client()
    await log_in(bob_client, "bob")
    carol_client = new_client()
    await log_in(carol_client, "carol")

    as_admin = await bob_client.get(f"/projects/{project_id}/members")
    as_stranger = await carol_client.get(f"/projects/{project_id}/members")

    assert as_admin.status_code == 403
    assert as_admin.json()["error"]["code"] == "owner_required"
    assert as_stranger.status_code == 404
    assert as_stranger.json()["error"]["code"] == "project_not_found"


async def test_last_owner_guard_answers_400(
    auth_pool: asyncpg.Pool, owner: tuple[httpx.AsyncClient, str]
) -> None:
    client, project_id = owner
    me = await client.get("/auth/me")
    alice_id = me.json()["user"]["id"]

    response = await client.delete(f"/projects/{project_id}/members/{alice_id}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "last_owner"


async def test_invalid_role_in_body_is_422(
    owner: tuple[httpx.AsyncClient, str],
) -> None:
    client, project_id = owner

    response = await client.post(
        f"/projects/{project_id}/members", json={"username": "bob", "role": "root"}
    )

    assert response.status_code == 422


async def test_audit_lists_active_project_events(
    owner: tuple[httpx.AsyncClient, str],
) -> None:
    client, project_id = owner

    response = await client.get("/audit", params={"action": "project.select"})

    assert response.status_code == 200
    events = response.json()["events"]
    assert [event["action"] for event in events] == ["project.select"]
    assert events[0]["target"] == project_id
    assert events[0]["status"] == "ok"
    assert isinstance(events[0]["details"], dict)
    assert isinstance(events[0]["id"], int)
    assert response.json()["next_before_id"] is None


async def test_audit_pages_with_before_id(
    owner: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = owner

    first = await client.get("/audit", params={"limit": 1})
    cursor = first.json()["next_before_id"]
    second = await client.get("/audit", params={"limit": 1, "before_id": cursor})

    assert len(first.json()["events"]) == 1
    assert second.json()["events"][0]["id"] < first.json()["events"][0]["id"]


@pytest.mark.parametrize(
    "params", [{"status": "bogus"}, {"limit": 0}, {"limit": 501}, {"before_id": 0}]
)
async def test_audit_rejects_invalid_query(
    owner: tuple[httpx.AsyncClient, str], params: dict[str, object]
) -> None:
    client, _ = owner

    response = await client.get("/audit", params=params)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


async def test_audit_needs_admin_role(
    auth_pool: asyncpg.Pool,
    new_client: ClientFactory,
    owner: tuple[httpx.AsyncClient, str],
) -> None:
    client, project_id = owner
    await create_user(auth_pool, "bob")
    await client.post(
        f"/projects/{project_id}/members", json={"username": "bob", "role": "member"}
    )
    bob_client = new_client()
    await log_in(bob_client, "bob")
    await bob_client.post(f"/projects/{project_id}/select")

    response = await bob_client.get("/audit")

    assert response.status_code == 403


async def test_audit_needs_active_project(
    auth_pool: asyncpg.Pool, new_client: ClientFactory
) -> None:
    await create_user(auth_pool, "bob")
    client = new_client()
    await log_in(client, "bob")

    response = await client.get("/audit")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "active_project_required"


async def test_audit_never_shows_other_project(
    owner: tuple[httpx.AsyncClient, str],
) -> None:
    client, first_project = owner
    second_project = await create_and_select(client, "Billing")

    response = await client.get("/audit", params={"limit": 500})

    project_events = [
        event
        for event in response.json()["events"]
        if event["action"] in ("project.create", "project.select")
    ]
    assert project_events
    assert all(event["target"] == second_project for event in project_events)
    assert all(event["target"] != first_project for event in response.json()["events"])
