"""GetDocuments returns the current state of the documents that evidence cites."""

from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from gen.connectors.v1 import connectors_pb2 as pb
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.grpc_client import call_metadata, create_channel
from services.common.internal_auth import Principal, service_principal
from services.connectors.evidence import MAX_REFS
from tests.connectors.conftest import PROJECT
from tests.connectors.server import (
    CHATWOOT_URL,
    MAX_MESSAGE_BYTES,
    UPDATED_AT,
    save_conversation,
    save_document,
    serve_connectors,
)

SECRET = "test-internal-token-secret-of-32-bytes-or-more"
OTHER_PROJECT = "00000000-0000-0000-0000-0000000000c2"
VIEWER = Principal(subject="u1", kind="user", role="viewer", project_id=PROJECT)


@pytest.fixture
async def stub(
    connectors_pool: asyncpg.Pool,
) -> AsyncIterator[connectors_pb2_grpc.ConnectorsServiceStub]:
    async with serve_connectors(connectors_pool, SECRET) as address:
        channel = create_channel(address, MAX_MESSAGE_BYTES)
        try:
            yield connectors_pb2_grpc.ConnectorsServiceStub(channel)
        finally:
            await channel.close()


async def _get(
    stub: connectors_pb2_grpc.ConnectorsServiceStub,
    refs: list[tuple[str, str]],
    caller: Principal = VIEWER,
) -> list[pb.DocumentState]:
    response = await stub.GetDocuments(
        pb.GetDocumentsRequest(
            refs=[pb.DocumentRef(source_type=t, source_id=i) for t, i in refs]
        ),
        metadata=call_metadata(caller, SECRET),
        timeout=5,
    )
    return list(response.documents)


async def test_found_documents_carry_title_and_url(
    connectors_pool: asyncpg.Pool, stub: connectors_pb2_grpc.ConnectorsServiceStub
) -> None:
    await save_conversation(connectors_pool, PROJECT, 41, "Anna Petrova")
    await save_document(connectors_pool, PROJECT, "linear_issue", "ENG-7", "Refund")
    await save_document(connectors_pool, PROJECT, "attio_deal", "deal-3", "Pro plan")

    states = await _get(
        stub,
        [
            ("chatwoot_conversation", "41"),
            ("linear_issue", "ENG-7"),
            ("attio_deal", "deal-3"),
        ],
    )

    conversation, issue, deal = states
    assert conversation.found
    assert not conversation.deleted
    assert conversation.title == "Conversation #41 with Anna Petrova (open)"
    assert conversation.url == f"{CHATWOOT_URL}/app/accounts/1/conversations/41"
    assert conversation.source_updated_at.ToDatetime().timestamp() == pytest.approx(
        UPDATED_AT.timestamp()
    )
    assert (issue.source_type, issue.source_id) == ("linear_issue", "ENG-7")
    assert issue.found
    assert not issue.deleted
    assert issue.title == "Refund"
    assert issue.url == "http://127.0.0.1:3002/linear_issue/ENG-7"
    assert deal.found
    assert deal.title == "Pro plan"


async def test_deleted_documents_are_flagged(
    connectors_pool: asyncpg.Pool, stub: connectors_pb2_grpc.ConnectorsServiceStub
) -> None:
    await save_conversation(connectors_pool, PROJECT, 42, "Ivan", deleted=True)
    await save_document(
        connectors_pool, PROJECT, "linear_issue", "ENG-8", "Gone", deleted=True
    )

    conversation, issue = await _get(
        stub, [("chatwoot_conversation", "42"), ("linear_issue", "ENG-8")]
    )

    assert conversation.found
    assert conversation.deleted
    assert issue.found
    assert issue.deleted
    assert issue.title == "Gone"


async def test_missing_document_is_not_found(
    connectors_pool: asyncpg.Pool, stub: connectors_pb2_grpc.ConnectorsServiceStub
) -> None:
    await save_document(connectors_pool, PROJECT, "linear_issue", "ENG-9", "Kept")

    states = await _get(
        stub,
        [
            ("chatwoot_conversation", "404"),
            ("linear_issue", "ENG-404"),
            ("attio_deal", "ENG-9"),
        ],
    )

    assert [state.found for state in states] == [False, False, False]
    assert [state.source_id for state in states] == ["404", "ENG-404", "ENG-9"]
    assert not states[0].HasField("source_updated_at")


async def test_other_project_document_is_not_found(
    connectors_pool: asyncpg.Pool, stub: connectors_pb2_grpc.ConnectorsServiceStub
) -> None:
    await save_conversation(connectors_pool, OTHER_PROJECT, 43, "Olga")
    await save_document(connectors_pool, OTHER_PROJECT, "attio_deal", "deal-9", "X")

    states = await _get(
        stub, [("chatwoot_conversation", "43"), ("attio_deal", "deal-9")]
    )

    assert [state.found for state in states] == [False, False]
    assert [state.title for state in states] == ["", ""]


async def test_states_follow_request_order(
    connectors_pool: asyncpg.Pool, stub: connectors_pb2_grpc.ConnectorsServiceStub
) -> None:
    await save_document(connectors_pool, PROJECT, "linear_issue", "ENG-1", "One")
    await save_conversation(connectors_pool, PROJECT, 44, "Petr")

    states = await _get(
        stub,
        [
            ("linear_issue", "ENG-1"),
            ("chatwoot_conversation", "44"),
            ("linear_issue", "ENG-1"),
        ],
    )

    assert [state.source_id for state in states] == ["ENG-1", "44", "ENG-1"]
    assert all(state.found for state in states)


async def test_service_caller_is_allowed(
    connectors_pool: asyncpg.Pool, stub: connectors_pb2_grpc.ConnectorsServiceStub
) -> None:
    await save_document(connectors_pool, PROJECT, "linear_issue", "ENG-2", "Two")

    (state,) = await _get(
        stub, [("linear_issue", "ENG-2")], service_principal("rag", PROJECT)
    )

    assert state.found


async def test_too_many_refs_are_rejected(
    stub: connectors_pb2_grpc.ConnectorsServiceStub,
) -> None:
    refs = [("linear_issue", f"ENG-{n}") for n in range(MAX_REFS + 1)]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _get(stub, refs)

    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert f"maximum per call is {MAX_REFS}" in (raised.value.details() or "")


async def test_max_refs_are_accepted(
    stub: connectors_pb2_grpc.ConnectorsServiceStub,
) -> None:
    refs = [("linear_issue", f"ENG-{n}") for n in range(MAX_REFS)]

    states = await _get(stub, refs)

    assert len(states) == MAX_REFS


async def test_unknown_source_type_is_rejected(
    stub: connectors_pb2_grpc.ConnectorsServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _get(stub, [("crm_account", "1")])

    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "crm_account" in (raised.value.details() or "")


async def test_empty_source_id_is_rejected(
    stub: connectors_pb2_grpc.ConnectorsServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _get(stub, [("linear_issue", "")])

    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_call_without_project_is_rejected(
    stub: connectors_pb2_grpc.ConnectorsServiceStub,
) -> None:
    caller = Principal(subject="u1", kind="user", role="viewer")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _get(stub, [("linear_issue", "ENG-1")], caller)

    assert raised.value.code() is grpc.StatusCode.FAILED_PRECONDITION


async def test_caller_without_role_is_rejected(
    stub: connectors_pb2_grpc.ConnectorsServiceStub,
) -> None:
    caller = Principal(subject="u1", kind="user", role="", project_id=PROJECT)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _get(stub, [("linear_issue", "ENG-1")], caller)

    assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
