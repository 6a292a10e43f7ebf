"""Helpers for tests of the gateway's metrics across worker processes."""

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from devstack.processes import REPO_ROOT
from gateway.main import MULTIPROCESS_DIR_VARIABLE

SampleKey = tuple[str, frozenset[tuple[str, str]]]

LIVE_REQUESTS: SampleKey = (
    "gateway_http_requests_total",
    frozenset({("method", "GET"), ("route", "/health/live"), ("status", "200")}),
)
LIVE_SECONDS_COUNT: SampleKey = (
    "gateway_http_request_seconds_count",
    frozenset({("method", "GET"), ("route", "/health/live")}),
)
LIVE_SECONDS_FAST_BUCKET: SampleKey = (
    "gateway_http_request_seconds_bucket",
    frozenset({("method", "GET"), ("route", "/health/live"), ("le", "0.025")}),
)
METRICS_REQUESTS: SampleKey = (
    "gateway_http_requests_total",
    frozenset({("method", "GET"), ("route", "/metrics"), ("status", "200")}),
)
WORKERS: SampleKey = ("gateway_worker_processes", frozenset())

# Records `count` served requests of one route as a gateway worker would,
# then stops as a worker does at shutdown, or is killed by SIGKILL.
WORKER_SCRIPT = """
import os, signal, sys
from gateway import metrics
count, ending = int(sys.argv[1]), sys.argv[2]
metrics.start_worker()
for _ in range(count):
    metrics.HTTP_REQUESTS.labels("GET", "/health/live", "200").inc()
    metrics.HTTP_SECONDS.labels("GET", "/health/live").observe(0.01)
if ending == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
metrics.stop_worker()
"""


def run_recording_process(directory: Path, count: int, ending: str = "stopped") -> int:
    """Run one recording process in multiprocess mode and return its process id."""
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, str(count), ending],
        cwd=REPO_ROOT,
        env={**os.environ, MULTIPROCESS_DIR_VARIABLE: str(directory)},
    )
    process.wait(timeout=60)
    expected_code = -9 if ending == "killed" else 0
    assert process.returncode == expected_code
    return process.pid


def parse_exposition(text: str) -> dict[SampleKey, float]:
    """Return the samples of a /metrics body by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def collect_directory(directory: Path) -> dict[SampleKey, float]:
    """Return the samples summed over every process file in directory."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in registry.collect()
        for sample in family.samples
    }


def live_gauge_pids(directory: Path) -> set[int]:
    """Return the process ids that still have a live-gauge file in directory."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("gauge_live*")}
