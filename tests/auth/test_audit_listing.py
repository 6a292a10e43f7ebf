import json
import uuid

import asyncpg
import grpc
import pytest

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.auth import repository
from services.common.grpc_client import call_metadata
from services.common.internal_auth import Principal
from tests.auth.helpers import TOKEN_SECRET, error_reason, service_metadata

PROJECT_A = str(uuid.uuid4())
PROJECT_B = str(uuid.uuid4())
Stub = auth_pb2_grpc.AuthServiceStub


def metadata(
    role: str = "admin", project_id: str = PROJECT_A
) -> tuple[tuple[str, str], ...]:
    principal = Principal(
        subject=str(uuid.uuid4()), kind="user", role=role, project_id=project_id
    )
    return call_metadata(principal, TOKEN_SECRET)


async def insert(
    pool: asyncpg.Pool, project_id: str, action: str, status: str = "ok"
) -> None:
    event = repository.AuditEvent(
        action=action,
        status=status,
        actor_id="someone",
        actor_kind="user",
        project_id=project_id,
        target="target-1",
        details={"n": 1},
    )
    async with pool.acquire() as conn:
        await repository.insert_audit_event(conn, event)


async def list_events(
    stub: Stub, role: str = "admin", project_id: str = PROJECT_A, **filters: object
) -> auth_pb2.ListAuditEventsResponse:
    request = auth_pb2.ListAuditEventsRequest(**filters)  # type: ignore[arg-type]
    return await stub.ListAuditEvents(request, metadata=metadata(role, project_id))


async def rejected(stub: Stub, **kwargs: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await list_events(stub, **kwargs)  # type: ignore[arg-type]
    return caught.value


@pytest.fixture
async def events(auth_pool: asyncpg.Pool) -> None:
    """Five events in project A and two in project B, oldest first."""
    await insert(auth_pool, PROJECT_A, "sync.start")
    await insert(auth_pool, PROJECT_B, "sync.start")
    await insert(auth_pool, PROJECT_A, "sync.start", "failed")
    await insert(auth_pool, PROJECT_A, "query")
    await insert(auth_pool, PROJECT_B, "query", "warning")
    await insert(auth_pool, PROJECT_A, "reconcile", "warning")
    await insert(auth_pool, PROJECT_A, "query", "failed")


@pytest.mark.usefixtures("events")
async def test_lists_only_active_project_newest_first(auth_stub: Stub) -> None:
    response = await list_events(auth_stub)

    actions = [event.action for event in response.events]
    ids = [event.id for event in response.events]
    assert actions == ["query", "reconcile", "query", "sync.start", "sync.start"]
    assert ids == sorted(ids, reverse=True)
    assert response.next_before_id == 0


@pytest.mark.usefixtures("events")
async def test_other_project_events_never_appear(auth_stub: Stub) -> None:
    response_a = await list_events(auth_stub, project_id=PROJECT_A)
    response_b = await list_events(auth_stub, project_id=PROJECT_B)

    ids_a = {event.id for event in response_a.events}
    ids_b = {event.id for event in response_b.events}
    assert len(ids_b) == 2
    assert ids_a.isdisjoint(ids_b)


@pytest.mark.usefixtures("events")
async def test_event_fields_are_returned(auth_stub: Stub) -> None:
    response = await list_events(auth_stub, limit=1)

    event = response.events[0]
    assert event.actor_id == "someone"
    assert event.actor_kind == "user"
    assert event.status == "failed"
    assert event.target == "target-1"
    assert event.created_at.seconds > 0
    assert json.loads(event.details_json) == {"n": 1}


@pytest.mark.usefixtures("events")
async def test_filters_by_action_and_status(auth_stub: Stub) -> None:
    by_action = await list_events(auth_stub, action="query")
    by_status = await list_events(auth_stub, status="failed")
    by_both = await list_events(auth_stub, action="sync.start", status="ok")

    assert [e.status for e in by_action.events] == ["failed", "ok"]
    assert [e.action for e in by_status.events] == ["query", "sync.start"]
    assert len(by_both.events) == 1


@pytest.mark.usefixtures("events")
async def test_pages_with_before_id(auth_stub: Stub) -> None:
    first = await list_events(auth_stub, limit=2)
    second = await list_events(auth_stub, limit=2, before_id=first.next_before_id)
    third = await list_events(auth_stub, limit=2, before_id=second.next_before_id)

    pages = [first, second, third]
    actions = [event.action for page in pages for event in page.events]
    assert actions == ["query", "reconcile", "query", "sync.start", "sync.start"]
    assert first.next_before_id == first.events[-1].id
    assert third.next_before_id == 0


async def test_default_limit_is_100(auth_stub: Stub, auth_pool: asyncpg.Pool) -> None:
    await auth_pool.execute(
        "INSERT INTO auth.audit_events (project_id, actor_id, actor_kind, action,"
        " status) SELECT $1, 'a', 'user', 'bulk', 'ok' FROM generate_series(1, 101)",
        uuid.UUID(PROJECT_A),
    )

    response = await list_events(auth_stub)

    assert len(response.events) == 100
    assert response.next_before_id == response.events[-1].id


@pytest.mark.parametrize("role", ["member", "viewer"])
async def test_below_admin_is_denied(auth_stub: Stub, role: str) -> None:
    error = await rejected(auth_stub, role=role)

    assert error.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_owner_may_list(auth_stub: Stub) -> None:
    response = await list_events(auth_stub, role="owner")

    assert list(response.events) == []


async def test_needs_active_project(auth_stub: Stub) -> None:
    error = await rejected(auth_stub, project_id="")

    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(error) == "active_project_required"


@pytest.mark.parametrize(
    "filters",
    [{"status": "bogus"}, {"limit": 501}, {"limit": -1}, {"before_id": -5}],
)
async def test_invalid_filter_is_rejected(
    auth_stub: Stub, filters: dict[str, object]
) -> None:
    error = await rejected(auth_stub, **filters)

    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(error) == "invalid_audit_filter"


async def test_service_caller_is_rejected(auth_stub: Stub) -> None:
    request = auth_pb2.ListAuditEventsRequest()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await auth_stub.ListAuditEvents(request, metadata=service_metadata())

    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
