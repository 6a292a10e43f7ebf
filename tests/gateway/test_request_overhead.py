"""Per-request work the gateway avoids, because bench/gateway.py showed its cost."""

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from starlette.middleware.base import BaseHTTPMiddleware

from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.common.telemetry import configure_tracing


def _settings() -> GatewaySettings:
    # No service listens here; /health/live calls none.
    return GatewaySettings(
        auth_address="127.0.0.1:9",
        connectors_address="127.0.0.1:9",
        rag_address="127.0.0.1:9",
        reconcile_address="127.0.0.1:9",
    )


def test_middleware_runs_in_request_task() -> None:
    layer: object = create_app(_settings()).build_middleware_stack()
    kinds = []
    while layer is not None:
        kinds.append(type(layer))
        layer = getattr(layer, "app", None)

    assert BaseHTTPMiddleware not in kinds


async def test_request_records_only_server_span() -> None:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("gateway-tests", exporter=exporter)
    transport = httpx.ASGITransport(app=create_app(_settings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
        response = await http.get("/health/live")
    provider.force_flush()
    names = [span.name for span in exporter.get_finished_spans()]
    # Later tests of this process still create spans, which a stopped
    # exporter drops.
    exporter.shutdown()

    assert response.status_code == 200
    assert response.headers["x-trace-id"]
    assert names == ["GET /health/live"]
