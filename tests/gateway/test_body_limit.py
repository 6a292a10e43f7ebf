"""The request body limit applies whether or not the client sends a length."""

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings

LIMIT = 1024


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # No service listens on these ports; the checks here end before any call.
    settings = GatewaySettings(
        max_request_body_bytes=LIMIT,
        auth_address="127.0.0.1:9",
        connectors_address="127.0.0.1:9",
        rag_address="127.0.0.1:9",
        reconcile_address="127.0.0.1:9",
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        yield http


async def _chunks(total: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(256, total - sent)
        sent += piece
        yield b"x" * piece


async def test_long_body_with_length_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=b"x" * (LIMIT + 1))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_long_chunked_body_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=_chunks(LIMIT * 20))

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_short_chunked_body_reaches_the_route(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/auth/login",
        content=_chunks(100),
        headers={"content-type": "application/json"},
    )

    # The route parsed the body: 100 x's are not JSON.
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]["message"]
