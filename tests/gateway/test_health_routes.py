"""Liveness, readiness and the part-by-part health report against real gRPC servers.

Each service is a grpc.aio server with the standard health service, registered
as the real services do it. A test sets a server NOT_SERVING or stops it.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest

from devstack.processes import free_port
from gateway.app import create_app
from gateway.clients import connect
from gateway.settings import GatewaySettings
from services.common.grpc_server import (
    add_health_and_reflection,
    create_server,
    set_serving,
)

SECRET = "test-secret-of-thirty-two-bytes-or-more"
SERVICES = ("auth", "connectors", "rag", "reconcile")
PREFIXES = ("", "/v1")


@dataclass
class FakeService:
    server: grpc.aio.Server
    health: Any
    address: str


@dataclass
class Gateway:
    client: httpx.AsyncClient
    services: dict[str, FakeService]


async def _start_service() -> FakeService:
    server = create_server(SECRET, 4 * 1024 * 1024)
    health = add_health_and_reflection(server, [])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await set_serving(health, [], True)
    return FakeService(server, health, f"127.0.0.1:{port}")


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    services = {name: await _start_service() for name in SERVICES}
    settings = GatewaySettings(
        auth_address=services["auth"].address,
        connectors_address=services["connectors"].address,
        rag_address=services["rag"].address,
        reconcile_address=services["reconcile"].address,
        internal_token_secret=SECRET,
    )
    app = create_app(settings)
    app.state.clients = connect(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test"
    ) as client:
        yield Gateway(client, services)
    await app.state.clients.close()
    for service in services.values():
        await service.server.stop(0)


@pytest.fixture
async def gateway_without_services() -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose service addresses are free ports where nothing listens."""
    settings = GatewaySettings(
        auth_address=f"127.0.0.1:{free_port()}",
        connectors_address=f"127.0.0.1:{free_port()}",
        rag_address=f"127.0.0.1:{free_port()}",
        internal_token_secret=SECRET,
    )
    app = create_app(settings)
    app.state.clients = connect(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test"
    ) as client:
        yield client
    await app.state.clients.close()


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_live_without_services(
    gateway_without_services: httpx.AsyncClient, prefix: str
) -> None:
    response = await gateway_without_services.get(f"{prefix}/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_ready_when_all_serving(gateway: Gateway, prefix: str) -> None:
    response = await gateway.client.get(f"{prefix}/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["parts"]) == set(SERVICES)
    for name in SERVICES:
        assert body["parts"][name]["grpc_status"] == "SERVING"


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_ready_lists_not_serving_service(gateway: Gateway, prefix: str) -> None:
    await set_serving(gateway.services["rag"].health, [], False)
    response = await gateway.client.get(f"{prefix}/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert list(body["not_ready"]) == ["rag"]
    assert body["not_ready"]["rag"]["grpc_status"] == "NOT_SERVING"


async def test_ready_lists_stopped_service(gateway: Gateway) -> None:
    await gateway.services["auth"].server.stop(0)
    response = await gateway.client.get("/health/ready")
    assert response.status_code == 503
    not_ready = response.json()["not_ready"]
    assert list(not_ready) == ["auth"]
    assert not_ready["auth"]["status"] == "down"
    assert not_ready["auth"]["error"].startswith("UNAVAILABLE")


async def test_ready_without_services(
    gateway_without_services: httpx.AsyncClient,
) -> None:
    response = await gateway_without_services.get("/v1/health/ready")
    assert response.status_code == 503
    assert set(response.json()["not_ready"]) == set(SERVICES)


async def test_health_reports_every_part(gateway: Gateway) -> None:
    await set_serving(gateway.services["connectors"].health, [], False)
    response = await gateway.client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["parts"]["connectors"]["status"] == "down"
    assert body["parts"]["auth"]["status"] == "up"
    assert body["parts"]["database"]["status"] == "unknown"


async def test_health_ok_when_all_serving(gateway: Gateway) -> None:
    response = await gateway.client.get("/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("path", ["/health", "/health/live", "/health/ready"])
async def test_health_paths_need_no_session(gateway: Gateway, path: str) -> None:
    gateway.client.cookies.clear()
    response = await gateway.client.get(path)
    assert response.status_code == 200
