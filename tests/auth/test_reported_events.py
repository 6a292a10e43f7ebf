"""Audit events that other services report through RecordAuditEvent."""

import json
import uuid

import asyncpg
import grpc
import pytest

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.common.grpc_client import call_metadata
from services.common.internal_auth import service_principal
from tests.auth.helpers import TOKEN_SECRET, service_metadata, user_metadata

PROJECT = "00000000-0000-0000-0000-0000000000b7"
USER = "00000000-0000-0000-0000-0000000000b8"


def _request(**fields: str) -> auth_pb2.RecordAuditEventRequest:
    values = {
        "action": "reconciliation.run",
        "status": "warning",
        "project_id": PROJECT,
        "target": "reconciliation_run:7",
        "details_json": json.dumps({"below_threshold": ["attio/deals"]}),
        **fields,
    }
    return auth_pb2.RecordAuditEventRequest(**values)


async def test_service_event_is_stored_with_its_actor(
    auth_stub: auth_pb2_grpc.AuthServiceStub, auth_pool: asyncpg.Pool
) -> None:
    reconcile = call_metadata(
        service_principal("reconcile", PROJECT, "req-42"), TOKEN_SECRET
    )
    await auth_stub.RecordAuditEvent(_request(), metadata=reconcile)
    await auth_stub.RecordAuditEvent(
        _request(status="ok", actor_user_id=USER), metadata=reconcile
    )
    async with auth_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT project_id, actor_id, actor_kind, action, status, target,"
            " request_id, details FROM auth.audit_events ORDER BY id"
        )

    first, second = rows
    assert first["project_id"] == uuid.UUID(PROJECT)
    assert (first["actor_id"], first["actor_kind"]) == ("service:reconcile", "service")
    assert (first["status"], first["target"]) == ("warning", "reconciliation_run:7")
    assert first["request_id"] == "req-42"
    assert json.loads(first["details"]) == {"below_threshold": ["attio/deals"]}
    assert (second["actor_id"], second["actor_kind"]) == (USER, "user")


async def test_user_callers_cannot_write_the_audit_log(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await auth_stub.RecordAuditEvent(_request(), metadata=user_metadata(USER))

    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    "fields",
    [
        {"status": "fine"},
        {"action": ""},
        {"action": "x" * 101},
        {"project_id": "not-a-uuid"},
        {"details_json": "[1, 2]"},
        {"details_json": "{broken"},
        {"details_json": json.dumps({"blob": "x" * 20000})},
    ],
)
async def test_malformed_events_are_rejected(
    auth_stub: auth_pb2_grpc.AuthServiceStub,
    auth_pool: asyncpg.Pool,
    fields: dict[str, str],
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await auth_stub.RecordAuditEvent(
            _request(**fields), metadata=service_metadata()
        )
    async with auth_pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM auth.audit_events")

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert stored == 0
