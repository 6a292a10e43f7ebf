"""The gateway's audit trail, against real auth, RAG and connectors servers."""

import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import grpc
import pytest
import structlog

from gateway import audit_trail
from gen.auth.v1 import auth_pb2_grpc
from tests.gateway.service_stack import (
    OWNER,
    OWNER_PASSWORD,
    ServiceStack,
    serve_stack,
)


@pytest.fixture
async def stack(database_dsn: str) -> AsyncIterator[ServiceStack]:
    async with serve_stack(database_dsn) as running:
        yield running


async def events_of(pool: asyncpg.Pool, request_id: str) -> list[dict[str, Any]]:
    """Return the audit events of one gateway request, oldest first."""
    rows = await pool.fetch(
        "SELECT action, status, actor_id, actor_kind, project_id::text AS project_id,"
        " target, trace_id, request_id, details::text AS details"
        " FROM auth.audit_events WHERE request_id = $1 ORDER BY id",
        request_id,
    )
    return [{**dict(row), "details": json.loads(row["details"])} for row in rows]


async def test_state_change_records_ok_event(stack: ServiceStack) -> None:
    response = await stack.client.post("/jobs/embeddings/run", json={})

    assert response.status_code == 200, response.text
    events = await events_of(stack.auth_pool, response.headers["x-request-id"])
    assert len(events) == 1
    event = events[0]
    assert event["action"] == "embeddings.run"
    assert event["status"] == "ok"
    assert event["actor_id"] == stack.owner_id
    assert event["actor_kind"] == "user"
    assert event["project_id"] == stack.project_id
    assert event["trace_id"]
    assert event["trace_id"] == response.headers["x-trace-id"]
    assert event["details"] == {"http_status": 200}


@pytest.mark.parametrize("prefix", ["", "/v1"])
async def test_unknown_connector_sync_records_failure(
    stack: ServiceStack, prefix: str
) -> None:
    response = await stack.client.post(f"{prefix}/connectors/nosuch/sync", json={})

    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "connector_not_found"
    events = await events_of(stack.auth_pool, error["request_id"])
    assert len(events) == 1
    event = events[0]
    assert event["action"] == "connectors.sync"
    assert event["status"] == "failed"
    assert event["target"] == "nosuch"
    assert event["actor_id"] == stack.owner_id
    assert event["trace_id"] == error["trace_id"]
    assert event["details"] == {
        "http_status": 404,
        "error_code": "connector_not_found",
    }


async def test_failed_search_records_failure(stack: ServiceStack) -> None:
    # A blank question passes the gateway's length check and the RAG service
    # rejects it, recording a failed query run.
    response = await stack.client.post("/lightrag/query", json={"question": "   "})

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_query"
    events = await events_of(stack.auth_pool, error["request_id"])
    assert len(events) == 1
    event = events[0]
    assert event["action"] == "lightrag.query"
    assert event["status"] == "failed"
    assert event["trace_id"] == error["trace_id"]
    assert event["details"]["error_code"] == "invalid_query"
    assert event["details"]["http_status"] == 400
    assert event["details"]["duration_ms"] > 0
    run_trace_id = await stack.rag_pool.fetchval(
        "SELECT trace_id FROM rag.lightrag_query_runs WHERE status = 'failed'"
    )
    assert run_trace_id == error["trace_id"]


async def test_degraded_search_records_warning(stack: ServiceStack) -> None:
    question = "Почему клиенту дважды списали оплату?"

    response = await stack.client.post("/search", json={"question": question})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["evidence"], "full-text search found nothing"
    events = await events_of(stack.auth_pool, response.headers["x-request-id"])
    assert len(events) == 1
    event = events[0]
    assert event["action"] == "lightrag.query"
    assert event["status"] == "warning"
    assert event["trace_id"] == body["trace_id"]
    assert event["details"]["query_run_id"] == body["query_run_id"]
    assert event["details"]["duration_ms"] > 0
    assert question not in json.dumps(event["details"], ensure_ascii=False)


async def test_login_recorded_once(stack: ServiceStack) -> None:
    async with stack.new_client() as client:
        response = await client.post(
            "/auth/login", json={"username": OWNER, "password": OWNER_PASSWORD}
        )

    assert response.status_code == 200, response.text
    events = await events_of(stack.auth_pool, response.headers["x-request-id"])
    assert [event["action"] for event in events] == ["auth.login"]


async def test_project_select_recorded_once(stack: ServiceStack) -> None:
    response = await stack.client.post(f"/projects/{stack.project_id}/select")

    assert response.status_code == 200, response.text
    events = await events_of(stack.auth_pool, response.headers["x-request-id"])
    assert [event["action"] for event in events] == ["project.select"]


async def test_request_without_session_not_recorded(stack: ServiceStack) -> None:
    async with stack.new_client() as client:
        response = await client.post("/jobs/embeddings/run", json={})

    assert response.status_code == 401, response.text
    events = await events_of(stack.auth_pool, response.headers["x-request-id"])
    assert events == []


async def test_csrf_failure_recorded_with_user(stack: ServiceStack) -> None:
    response = await stack.client.post(
        "/jobs/embeddings/run", json={}, headers={"x-csrf-token": "forged"}
    )

    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "csrf_invalid"
    events = await events_of(stack.auth_pool, error["request_id"])
    assert len(events) == 1
    assert events[0]["status"] == "failed"
    assert events[0]["actor_id"] == stack.owner_id
    assert events[0]["details"]["error_code"] == "csrf_invalid"


async def test_read_request_not_recorded(stack: ServiceStack) -> None:
    response = await stack.client.get("/lightrag/status")

    assert response.status_code == 200, response.text
    events = await events_of(stack.auth_pool, response.headers["x-request-id"])
    assert events == []


class AuthWithoutAudit:
    """The auth stub, except that RecordAuditEvent goes to a closed port."""

    def __init__(
        self, stub: auth_pb2_grpc.AuthServiceStub, dead: grpc.aio.Channel
    ) -> None:
        self._stub = stub
        self.RecordAuditEvent = auth_pb2_grpc.AuthServiceStub(dead).RecordAuditEvent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_audit_keeps_response(stack: ServiceStack) -> None:
    clients = stack.app.state.clients
    dead = grpc.aio.insecure_channel(f"127.0.0.1:{closed_port()}")
    clients.auth = AuthWithoutAudit(clients.auth, dead)
    try:
        with structlog.testing.capture_logs() as logs:
            response = await stack.client.post("/connectors/nosuch/sync", json={})
    finally:
        await dead.close()

    assert response.status_code == 404, response.text
    request_id = response.headers["x-request-id"]
    assert await events_of(stack.auth_pool, request_id) == []
    warnings = [line for line in logs if line["event"] == "audit.record_failed"]
    assert len(warnings) == 1
    assert warnings[0]["action"] == "connectors.sync"
    assert warnings[0]["request_id"] == request_id
    assert warnings[0]["log_level"] == "warning"


def test_project_create_left_to_auth_when_ok() -> None:
    notes = audit_trail.AuditNotes()

    created = audit_trail.describe_event("POST", "/projects", {}, 201, "", notes)
    rejected = audit_trail.describe_event(
        "POST", "/v1/projects", {}, 403, "forbidden", notes
    )

    assert created is None
    assert rejected is not None
    assert rejected.action == "project.create"
    assert rejected.status == "failed"
    assert rejected.details == {"http_status": 403, "error_code": "forbidden"}


def test_unlisted_route_named_by_template() -> None:
    event = audit_trail.describe_event(
        "DELETE",
        "/v1/widgets/{widget_id}",
        {"widget_id": "w-1"},
        204,
        "",
        audit_trail.AuditNotes(),
    )

    assert event is not None
    assert event.action == "DELETE /widgets/{widget_id}"
    assert event.target == "w-1"
    assert event.status == "ok"
