"""One stack for the security suite: projects A and B, their users and B's data.

The stack's owner creates both projects through the API. The other users and
their memberships are written with the auth service's own password hashing and
repository on the stack's database.
Project B gets a finished Attio sync, a search query, a raw record and a
connector error whose ids exist in B only, so project A's users have real ids
to guess at.
"""

import asyncio
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.stack import FakeSource, RunningStack
from services.auth import passwords, repository
from tests.e2e.stacks import launch_stack, query

UI_ORIGIN = "https://ui.example.test"
# Every response a client of this suite receives, for the security header check.
RECORDED_RESPONSES: list[httpx.Response] = []


def open_client(stack: RunningStack) -> httpx.Client:
    """Return a client of the stack's gateway that records every response."""
    return httpx.Client(
        base_url=stack.gateway_url,
        timeout=120.0,
        event_hooks={"response": [RECORDED_RESPONSES.append]},
    )


def log_in(stack: RunningStack, username: str, password: str) -> httpx.Client:
    """Log in and return a client that sends the session's CSRF token."""
    client = open_client(stack)
    response = client.post(
        "/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    client.headers["x-csrf-token"] = response.json()["csrf_token"]
    return client


def expect(response: httpx.Response, status: int) -> Any:
    """Return the JSON body, or fail with the response when its status differs."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path}:"
        f" {response.status_code} {response.text[:500]}"
    )
    return response.json()


def select(client: httpx.Client, project_id: str) -> None:
    expect(client.post(f"/projects/{project_id}/select"), 200)


@dataclass
class User:
    username: str
    password: str
    user_id: str = ""


@dataclass
class ProjectBData:
    """Ids that exist in project B only, collected through B's owner session."""

    project_id: str
    run_ids: list[str] = field(default_factory=list)
    external_ids: list[str] = field(default_factory=list)
    error_ids: list[int] = field(default_factory=list)
    query_run_ids: list[str] = field(default_factory=list)
    chunk_ids: list[str] = field(default_factory=list)
    audit_event_ids: list[int] = field(default_factory=list)
    # Ids of the planted error and audit event. They are far above any
    # sequence value of this stack, so a match cannot be another table's row.
    planted_numbers: list[int] = field(default_factory=list)

    def text_ids(self) -> list[str]:
        """Return the ids that are unique to B as text, for substring checks."""
        return [
            self.project_id,
            *self.run_ids,
            *self.external_ids,
            *self.query_run_ids,
            *self.chunk_ids,
        ]

    def number_ids(self) -> list[int]:
        return [*self.error_ids, *self.audit_event_ids]


@dataclass
class SecurityWorld:
    """The running stack, both projects and a logged-in client per user."""

    stack: RunningStack
    project_a: str
    project_b: str
    users: dict[str, User]
    clients: dict[str, httpx.Client]
    b_data: ProjectBData


@pytest.fixture(scope="module")
def stack(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    env = {
        "CORS_ORIGIN": f"{UI_ORIGIN},https://second-ui.example.test",
        # Scheduled work would only compete with the tests for the CPU.
        "CONNECTORS_SYNC_INTERVAL_SECONDS": "86400",
        "RECONCILE_INTERVAL_SECONDS": "86400",
    }
    running = launch_stack(
        postgres_dsn, tmp_path_factory, {"attio": FakeSource(0)}, env
    )
    yield running
    running.stop()


async def _add_user(
    database_url: str, user: User, memberships: list[tuple[str, str]]
) -> str:
    """Insert a user with an argon2id hash and its project roles; return its id.

    The rows are written directly so that the suite does not depend on the
    member routes it also probes.
    """
    password_hash = await passwords.hash_password(user.password)
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            created = await repository.insert_user(conn, user.username, password_hash)
            for project_id, role in memberships:
                await conn.execute(
                    "INSERT INTO auth.memberships (project_id, user_id, role)"
                    " VALUES ($1, $2, $3)",
                    uuid.UUID(project_id),
                    uuid.UUID(created.id),
                    role,
                )
    finally:
        await conn.close()
    return created.id


PLANTED_ERROR_ID = 9_000_000_002
PLANTED_EVENT_ID = 9_000_000_001


def _plant_b_only_rows(stack: RunningStack, project_b: str) -> tuple[str, int]:
    """Insert a raw deal, a dead-letter error and an audit event of B only.

    The Attio fake serves one data set to every project, so synced records of
    B have external ids that A can hold too. These rows cannot.
    """
    external_id = f"b-only-deal-{uuid.uuid4().hex[:12]}"
    project = uuid.UUID(project_b)
    query(
        stack,
        "INSERT INTO connectors.attio_opportunities_raw"
        " (project_id, external_id, name, content_hash, raw)"
        " VALUES ($1, $2, 'Project B secret deal', 'planted', '{}'::jsonb)",
        project,
        external_id,
    )
    # A dead letter waits for an operator, so no automatic retry changes it.
    error_rows = query(
        stack,
        "INSERT INTO connectors.connector_errors"
        " (id, project_id, connector, entity, target, kind, status, message)"
        " OVERRIDING SYSTEM VALUE"
        " VALUES ($3, $1, 'attio', 'deals', $2, 'invalid_record', 'dead_letter',"
        " 'planted for the security suite') RETURNING id",
        project,
        external_id,
        PLANTED_ERROR_ID,
    )
    query(
        stack,
        "INSERT INTO auth.audit_events"
        " (id, project_id, actor_id, actor_kind, action, status, target)"
        " VALUES ($1, $2, 'service:security-suite', 'service', 'security.planted',"
        " 'ok', $3)",
        PLANTED_EVENT_ID,
        project,
        external_id,
    )
    return external_id, int(error_rows[0]["id"])


def _wait_for_run(client: httpx.Client, run_id: str) -> None:
    for _ in range(600):
        run = expect(client.get(f"/jobs/runs/{run_id}"), 200)
        if run["status"] != "running":
            assert run["status"] == "succeeded", run
            return
        time.sleep(0.25)
    raise AssertionError(f"sync run {run_id} still running")


def _collect_b_data(
    stack: RunningStack, client: httpx.Client, project_b: str
) -> ProjectBData:
    """Give B a sync, a query and planted rows; read their ids through B's session."""
    data = ProjectBData(project_id=project_b)
    run = expect(client.post("/jobs/attio/sync", json={"mode": "full"}), 202)
    _wait_for_run(client, run["run_id"])
    data.run_ids.append(run["run_id"])

    external_id, error_id = _plant_b_only_rows(stack, project_b)
    record = expect(client.get(f"/connectors/attio/records/{external_id}"), 200)
    data.external_ids.append(record["external_id"])
    errors = expect(client.get("/connectors/errors"), 200)["errors"]
    data.error_ids.extend(int(error["id"]) for error in errors)
    assert error_id in data.error_ids
    data.planted_numbers.extend([PLANTED_ERROR_ID, PLANTED_EVENT_ID])

    # Indexing every change but embedding one chunk keeps the local model's work small.
    expect(client.post("/jobs/embeddings/run", json={"max_chunks": 1}), 200)
    answer = expect(
        client.post("/lightrag/query", json={"question": "deal", "mode": "fulltext"}),
        200,
    )
    data.query_run_ids.append(answer["query_run_id"])
    data.chunk_ids.extend(item["chunk_id"] for item in answer["evidence"])

    audit = client.get("/audit")
    if audit.status_code == 200:
        data.audit_event_ids.extend(int(e["id"]) for e in audit.json()["events"])
        assert PLANTED_EVENT_ID in data.audit_event_ids
    else:
        # A gateway without GET /audit: the ids come from the database.
        rows = query(
            stack,
            "SELECT id FROM auth.audit_events WHERE project_id = $1",
            uuid.UUID(project_b),
        )
        data.audit_event_ids.extend(int(row["id"]) for row in rows)
    return data


@pytest.fixture(scope="module")
def world(stack: RunningStack) -> Iterator[SecurityWorld]:
    owner = log_in(stack, stack.config.owner_username, stack.config.owner_password)
    project_a = expect(owner.post("/projects", json={"name": "Project A"}), 201)["id"]
    project_b = expect(owner.post("/projects", json={"name": "Project B"}), 201)["id"]
    users = {
        "owner": User(stack.config.owner_username, stack.config.owner_password),
        "member_a": User("member-a", secrets.token_urlsafe(12)),
        "admin_a": User("admin-a", secrets.token_urlsafe(12)),
        "viewer_a": User("viewer-a", secrets.token_urlsafe(12)),
        "owner_b": User("owner-b", secrets.token_urlsafe(12)),
    }
    roles = {
        "member_a": [(project_a, "member")],
        "admin_a": [(project_a, "admin")],
        "viewer_a": [(project_a, "viewer")],
        "owner_b": [(project_b, "owner")],
    }
    for key, memberships in roles.items():
        users[key].user_id = asyncio.run(
            _add_user(stack.database_url, users[key], memberships)
        )
    clients = {"owner": owner}
    for key in roles:
        clients[key] = log_in(stack, users[key].username, users[key].password)
    for key in ("owner", "member_a", "admin_a", "viewer_a"):
        select(clients[key], project_a)
    select(clients["owner_b"], project_b)

    b_data = _collect_b_data(stack, clients["owner_b"], project_b)
    yield SecurityWorld(stack, project_a, project_b, users, clients, b_data)
    for client in clients.values():
        client.close()
