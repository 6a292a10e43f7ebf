"""A service's figures over HTTP for Prometheus and over gRPC for the gateway."""

import asyncio

import grpc
import httpx
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from devstack.processes import free_port
from gen.metrics.v1 import metrics_pb2
from services.common.metrics import install_metrics, render

calls = 0


async def _gather() -> list[Metric]:
    global calls
    calls += 1
    gauge = GaugeMetricFamily("widgets", "Widgets in stock.", labels=["colour"])
    gauge.add_metric(["red"], calls)
    return [gauge]


async def test_http_scrape_computes_figures_on_the_service_loop() -> None:
    port = free_port()
    server = grpc.aio.server()

    name = install_metrics(server, _gather, port)
    first = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics")
    second = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/metrics")

    assert name == "metrics.v1.MetricsService"
    assert first.status_code == 200
    assert 'widgets{colour="red"} 1.0' in first.text
    assert 'widgets{colour="red"} 2.0' in second.text


async def test_export_renders_the_text_format() -> None:
    text = await render(_gather)
    reply = metrics_pb2.ExportResponse(text=text)

    assert "# TYPE widgets gauge" in reply.text
    assert "widgets{colour=" in reply.text
