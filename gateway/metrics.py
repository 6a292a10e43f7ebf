"""Prometheus metrics of the gateway.

With several worker processes, set PROMETHEUS_MULTIPROC_DIR (emptied before
the workers start): every worker then writes its samples there and a scrape
aggregates all of them, so a counter never depends on which worker answered.
"""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

HTTP_REQUESTS = Counter(
    "gateway_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "gateway_http_request_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
)
RPC_ERRORS = Counter(
    "gateway_rpc_errors_total",
    "Service calls that failed, by gRPC code and the HTTP status answered.",
    ["grpc_code", "http_status"],
)


def render() -> tuple[bytes, str]:
    """Return the exposition text for a scrape and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
