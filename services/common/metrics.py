"""A service's figures from its own database, for Prometheus.

Each service describes its figures with an async `gather` function that
queries its schema and returns metric families. They are computed when
scraped, from the shared database, so any replica gives the same numbers and
counters derived from stored rows never go backwards. The figures are served
two ways: to the gateway over gRPC (MetricsService.Export), and, when
METRICS_PORT is set, over HTTP for Prometheus to scrape each service.
"""

import asyncio
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from gen.metrics.v1 import metrics_pb2 as pb
from gen.metrics.v1 import metrics_pb2_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["MetricsService"].full_name
SCRAPE_TIMEOUT_SECONDS = 5.0

Gather = Callable[[], Coroutine[Any, Any, list[Metric]]]


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class _FromLoop(Collector):
    """Runs gather on the service's event loop for a scrape from another thread."""

    def __init__(self, gather: Gather, loop: asyncio.AbstractEventLoop) -> None:
        self._gather = gather
        self._loop = loop

    def collect(self) -> Iterable[Metric]:
        future = asyncio.run_coroutine_threadsafe(self._gather(), self._loop)
        return future.result(SCRAPE_TIMEOUT_SECONDS)


async def render(gather: Gather) -> str:
    """Return the exposition text of the figures gather computes now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(await gather()))
    return generate_latest(registry).decode()


class MetricsServicer(metrics_pb2_grpc.MetricsServiceServicer):
    def __init__(self, gather: Gather) -> None:
        self._gather = gather

    async def Export(
        self, request: pb.ExportRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ExportResponse:
        """Return this service's figures in the Prometheus text format."""
        return pb.ExportResponse(text=await render(self._gather))


def install_metrics(server: grpc.aio.Server, gather: Gather, port: int | None) -> str:
    """Serve the figures over gRPC, and over HTTP on port when one is given."""
    metrics_pb2_grpc.add_MetricsServiceServicer_to_server(
        MetricsServicer(gather), server
    )
    if port:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_FromLoop(gather, asyncio.get_running_loop()))
        start_http_server(port, addr="0.0.0.0", registry=registry)
    return SERVICE_NAME
