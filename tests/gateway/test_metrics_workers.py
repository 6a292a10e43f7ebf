"""The gateway as a real process with 4 uvicorn workers: /metrics sums all of them.

With a registry per worker, each scrape shows only the worker that served it,
so a counter jumps up and down between scrapes. The gateway runs here without
the services, because /health/live and /metrics call none.
"""

import itertools
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.processes import ProcessGroup, free_port, wait_for_port
from tests.gateway.multiprocess import (
    LIVE_REQUESTS,
    LIVE_SECONDS_COUNT,
    METRICS_REQUESTS,
    WORKERS,
    SampleKey,
    live_gauge_pids,
    parse_exposition,
    run_recording_process,
)

pytestmark = pytest.mark.e2e

WORKER_COUNT = 4
REQUEST_COUNT = 100
SCRAPE_COUNT = 5
STALE_REQUEST_COUNT = 7
# Each spawned worker imports the whole app before it serves. That took about
# 7 s per worker on a shared 2-core machine, and uvicorn restarts a worker that
# does not reply to its health check within 5 s.
STARTUP_TIMEOUT_SECONDS = 120.0


@dataclass
class RunningGateway:
    group: ProcessGroup
    base_url: str
    metrics_dir: Path

    def scrape(self) -> dict[SampleKey, float]:
        # A new connection per request, so that any worker may accept it.
        response = httpx.get(f"{self.base_url}/metrics", timeout=10.0)
        assert response.status_code == 200
        return parse_exposition(response.text)

    def wait_for_workers(self, pids_to_avoid: frozenset[int] = frozenset()) -> set[int]:
        """Wait until WORKER_COUNT workers other than pids_to_avoid are serving."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.group.check_alive()
            pids = live_gauge_pids(self.metrics_dir) - pids_to_avoid
            if len(pids) >= WORKER_COUNT and self.scrape().get(WORKERS) == float(
                WORKER_COUNT
            ):
                return pids
            time.sleep(0.5)
        raise AssertionError(
            f"{WORKER_COUNT} workers did not start within {STARTUP_TIMEOUT_SECONDS} s"
        )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    # Files of an earlier run that the gateway must remove before its workers start.
    run_recording_process(metrics_dir, STALE_REQUEST_COUNT)
    port = free_port()
    env = {
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_PORT": str(port),
        "GATEWAY_WORKERS": str(WORKER_COUNT),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "GATEWAY_AUTH_ADDRESS": f"127.0.0.1:{free_port()}",
        "GATEWAY_CONNECTORS_ADDRESS": f"127.0.0.1:{free_port()}",
        "GATEWAY_RAG_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    group = ProcessGroup(tmp_path / "logs")
    group.start("gateway", ["-m", "gateway.main"], env)
    try:
        wait_for_port(group, port, STARTUP_TIMEOUT_SECONDS)
        running = RunningGateway(group, f"http://127.0.0.1:{port}", metrics_dir)
        running.wait_for_workers()
        yield running
    finally:
        group.stop()


def _send_live_requests(gateway: RunningGateway) -> None:
    for _ in range(REQUEST_COUNT):
        response = httpx.get(f"{gateway.base_url}/health/live", timeout=10.0)
        assert response.status_code == 200


def test_counter_summed_over_workers(gateway: RunningGateway) -> None:
    _send_live_requests(gateway)
    scrapes = [gateway.scrape() for _ in range(SCRAPE_COUNT)]

    live_counts = [scrape[LIVE_REQUESTS] for scrape in scrapes]
    assert live_counts == [float(REQUEST_COUNT)] * SCRAPE_COUNT
    assert live_counts == sorted(live_counts)
    for scrape in scrapes:
        assert scrape[LIVE_SECONDS_COUNT] == REQUEST_COUNT
        assert scrape[WORKERS] == WORKER_COUNT
    # The gateway counts a scrape after sending it, so only the next one sees it.
    metrics_counts = [scrape[METRICS_REQUESTS] for scrape in scrapes]
    for earlier, later in itertools.pairwise(metrics_counts):
        assert later > earlier
    # Summing matters only when more than one worker served requests.
    workers_with_requests = list(gateway.metrics_dir.glob("counter_*.db"))
    assert len(workers_with_requests) > 1


def test_killed_worker_keeps_counts(gateway: RunningGateway) -> None:
    _send_live_requests(gateway)
    first_pids = live_gauge_pids(gateway.metrics_dir)
    killed = min(first_pids)
    os.kill(killed, signal.SIGKILL)

    # Uvicorn starts a new worker in place of the killed one.
    gateway.wait_for_workers(pids_to_avoid=frozenset({killed}))
    scrape = gateway.scrape()
    assert scrape[WORKERS] == WORKER_COUNT
    assert killed not in live_gauge_pids(gateway.metrics_dir)
    assert scrape[LIVE_REQUESTS] == REQUEST_COUNT


def test_stopped_workers_marked_dead(gateway: RunningGateway) -> None:
    _send_live_requests(gateway)
    gateway.group.stop()
    assert live_gauge_pids(gateway.metrics_dir) == set()
    assert list(gateway.metrics_dir.glob("counter_*.db"))
