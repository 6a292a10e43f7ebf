"""Ratings of query runs through the gateway, against real auth and RAG servers."""

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.auth.helpers import create_user
from tests.gateway.service_stack import ServiceStack, log_in, serve_stack

QUESTION = "Почему клиенту дважды списали оплату?"


@pytest.fixture
async def stack(database_dsn: str) -> AsyncIterator[ServiceStack]:
    async with serve_stack(database_dsn) as running:
        yield running


async def query_run_id(stack: ServiceStack) -> str:
    response = await stack.client.post("/lightrag/query", json={"question": QUESTION})
    assert response.status_code == 200, response.text
    return str(response.json()["query_run_id"])


async def test_feedback_stored(stack: ServiceStack) -> None:
    run_id = await query_run_id(stack)

    response = await stack.client.post(
        "/lightrag/feedback",
        json={"query_run_id": run_id, "rating": 4, "comment": "useful"},
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["query_run_id"] == run_id
    assert body["project_id"] == stack.project_id
    assert body["user_id"] == stack.owner_id
    assert body["rating"] == 4
    assert body["comment"] == "useful"
    assert body["created_at"]
    rows = await stack.rag_pool.fetch("SELECT * FROM rag.lightrag_query_feedback")
    assert len(rows) == 1
    assert rows[0]["rating"] == 4
    event = await stack.auth_pool.fetchrow(
        "SELECT status, details->>'query_run_id' AS run_id FROM auth.audit_events"
        " WHERE action = 'lightrag.feedback'"
    )
    assert event is not None
    assert event["status"] == "ok"
    assert event["run_id"] == run_id


async def test_second_feedback_replaces_first(stack: ServiceStack) -> None:
    run_id = await query_run_id(stack)

    first = await stack.client.post(
        "/lightrag/feedback",
        json={"query_run_id": run_id, "rating": 2, "comment": "vague"},
    )
    second = await stack.client.post(
        "/lightrag/feedback", json={"query_run_id": run_id, "rating": 5}
    )

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert second.json()["rating"] == 5
    assert second.json()["comment"] == ""
    rows = await stack.rag_pool.fetch(
        "SELECT rating, comment FROM rag.lightrag_query_feedback"
    )
    assert [(row["rating"], row["comment"]) for row in rows] == [(5, "")]


async def test_run_of_other_project_not_found(stack: ServiceStack) -> None:
    run_id = await query_run_id(stack)
    created = await stack.client.post("/projects", json={"name": "Other"})
    assert created.status_code == 201, created.text
    selected = await stack.client.post(f"/projects/{created.json()['id']}/select")
    assert selected.status_code == 200, selected.text

    response = await stack.client.post(
        "/lightrag/feedback", json={"query_run_id": run_id, "rating": 3}
    )

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "query_run_not_found"
    count = await stack.rag_pool.fetchval(
        "SELECT count(*) FROM rag.lightrag_query_feedback"
    )
    assert count == 0
    event = await stack.auth_pool.fetchrow(
        "SELECT status, details->>'error_code' AS code FROM auth.audit_events"
        " WHERE action = 'lightrag.feedback'"
    )
    assert event is not None
    assert event["status"] == "failed"
    assert event["code"] == "query_run_not_found"


async def test_unknown_run_not_found(stack: ServiceStack) -> None:
    response = await stack.client.post(
        "/lightrag/feedback", json={"query_run_id": str(uuid.uuid4()), "rating": 3}
    )

    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "query_run_not_found"


async def test_viewer_cannot_give_feedback(stack: ServiceStack) -> None:
    run_id = await query_run_id(stack)
    viewer = await create_user(stack.auth_pool, "viewer", "viewer-password-123")
    await stack.auth_pool.execute(
        "INSERT INTO auth.memberships (project_id, user_id, role)"
        " VALUES ($1::uuid, $2::uuid, 'viewer')",
        stack.project_id,
        viewer.id,
    )

    async with stack.new_client() as client:
        await log_in(client, "viewer", "viewer-password-123", stack.project_id)
        response = await client.post(
            "/lightrag/feedback", json={"query_run_id": run_id, "rating": 5}
        )

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "changes",
    [
        {"rating": 0},
        {"rating": 6},
        {"rating": "4"},
        {"rating": 4.5},
        {"comment": "x" * 2001},
        {"query_run_id": "not-a-uuid"},
        {"extra": True},
    ],
)
async def test_invalid_feedback_rejected_at_gateway(
    stack: ServiceStack, changes: dict[str, object]
) -> None:
    body = {"query_run_id": str(uuid.uuid4()), "rating": 4, **changes}

    response = await stack.client.post("/lightrag/feedback", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
