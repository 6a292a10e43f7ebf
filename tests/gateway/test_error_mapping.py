"""The gateway maps each gRPC status of a real call to the closest HTTP status."""

import asyncio
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from gateway.app import create_app
from gateway.clients import connect
from gateway.settings import GatewaySettings
from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from gen.rag.v1 import rag_pb2, rag_pb2_grpc
from services.common.grpc_server import create_server

SECRET = "test-secret-of-thirty-two-bytes-or-more"
CODES_BY_QUESTION = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "missing": grpc.StatusCode.NOT_FOUND,
    "forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "throttled": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "unknown": grpc.StatusCode.UNKNOWN,
    "data_loss": grpc.StatusCode.DATA_LOSS,
}


class SessionAuth(auth_pb2_grpc.AuthServiceServicer):
    async def ResolveSession(self, request, context):  # noqa: N802
        return auth_pb2.ResolveSessionResponse(
            user=auth_pb2.User(id="u1", username="owner"),
            csrf_token="csrf",
            active_project_id="00000000-0000-0000-0000-000000000001",
            role="owner",
        )


class ScriptedRag(rag_pb2_grpc.RagServiceServicer):
    async def Query(self, request, context):  # noqa: N802
        if request.question == "slow":
            await asyncio.sleep(3)
            return rag_pb2.QueryResponse()
        code = CODES_BY_QUESTION[request.question]
        await context.abort(code, f"scripted {code.name}")


@pytest.fixture
async def gateway_client() -> AsyncIterator[tuple[httpx.AsyncClient, grpc.aio.Server]]:
    server = create_server(SECRET, 4 * 1024 * 1024)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(SessionAuth(), server)
    rag_pb2_grpc.add_RagServiceServicer_to_server(ScriptedRag(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    address = f"127.0.0.1:{port}"
    settings = GatewaySettings(
        auth_address=address,
        rag_address=address,
        connectors_address=address,
        rpc_timeout_seconds=1.0,
        internal_token_secret=SECRET,
    )
    app = create_app(settings)
    app.state.clients = connect(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test"
    ) as client:
        client.cookies.set("opsdesk_session", "s1")
        client.cookies.set("opsdesk_csrf", "csrf")
        client.headers["x-csrf-token"] = "csrf"
        yield client, server
    await app.state.clients.close()
    await server.stop(0)


async def _ask(client: httpx.AsyncClient, question: str) -> httpx.Response:
    return await client.post("/lightrag/query", json={"question": question})


@pytest.mark.parametrize(
    ("question", "status", "grpc_code"),
    [
        ("invalid", 400, "INVALID_ARGUMENT"),
        ("missing", 404, "NOT_FOUND"),
        ("forbidden", 403, "PERMISSION_DENIED"),
        ("throttled", 429, "RESOURCE_EXHAUSTED"),
        ("unauthenticated", 401, "UNAUTHENTICATED"),
        ("unknown", 500, "UNKNOWN"),
        ("data_loss", 500, "DATA_LOSS"),
    ],
)
async def test_status_maps_to_http(gateway_client, question, status, grpc_code) -> None:
    client, _ = gateway_client

    response = await _ask(client, question)

    assert response.status_code == status
    assert response.json()["error"]["grpc_code"] == grpc_code
    assert response.json()["error"]["request_id"]


async def test_deadline_exceeded_maps_to_504(gateway_client) -> None:
    client, _ = gateway_client

    response = await _ask(client, "slow")

    assert response.status_code == 504
    assert response.json()["error"]["grpc_code"] == "DEADLINE_EXCEEDED"


async def test_stopped_service_maps_to_503(gateway_client) -> None:
    client, server = gateway_client
    await server.stop(0)

    response = await _ask(client, "missing")

    assert response.status_code == 503
    assert response.json()["error"]["grpc_code"] == "UNAVAILABLE"


async def test_rpc_errors_are_counted_by_both_codes(gateway_client) -> None:
    client, _ = gateway_client

    await _ask(client, "throttled")
    metrics = (await client.get("/metrics")).text

    assert (
        'gateway_rpc_errors_total{grpc_code="RESOURCE_EXHAUSTED",http_status="429"}'
        in metrics
    )
