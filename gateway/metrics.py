"""Prometheus metrics of the gateway.

prometheus_client chooses where samples live when it is first imported. With
PROMETHEUS_MULTIPROC_DIR set, every process writes its samples to files in that
directory and a scrape sums the files of all processes, exited ones included,
so a counter does not depend on which worker served the scrape and does not
drop when a worker exits. gateway.main empties the directory before the workers
start and imports this module only after that.
"""

import os
import re
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Read once, at the same moment prometheus_client made its choice, so that
# rendering and recording always use the same storage.
MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None

# File names of live gauges, which prometheus_client keeps per process id.
LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")

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
WORKER_PROCESSES = Gauge(
    "gateway_worker_processes",
    "Gateway processes serving HTTP requests.",
    multiprocess_mode="livesum",
)


def start_worker() -> None:
    """Count this process as a live worker."""
    WORKER_PROCESSES.set(1)


def stop_worker() -> None:
    """Stop counting this process as a live worker. Its counters stay in the sums."""
    if MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(os.getpid(), MULTIPROCESS_DIR)
    else:
        WORKER_PROCESSES.set(0)


def mark_dead_workers(directory: str) -> list[int]:
    """Mark the processes whose live-gauge files outlived them as dead.

    A worker killed by SIGKILL never reaches stop_worker, so each scrape
    checks the process ids behind the live-gauge files. Returns those marked.
    """
    dead: list[int] = []
    for path in Path(directory).glob("gauge_live*.db"):
        match = LIVE_GAUGE_FILE.fullmatch(path.name)
        if match is None:
            continue
        pid = int(match.group(1))
        if pid not in dead and not _process_exists(pid):
            multiprocess.mark_process_dead(pid, directory)
            dead.append(pid)
    return dead


def _process_exists(pid: int) -> bool:
    # NOTE: a new process that reuses a dead worker's id keeps that worker
    # counted as live until the new process exits too.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def render() -> tuple[bytes, str]:
    """Return the exposition text for a scrape and its content type."""
    if MULTIPROCESS_DIR is not None:
        mark_dead_workers(MULTIPROCESS_DIR)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
