"""Two processes of every service on one database, as a cluster runs them.

The gateway and the services spread their calls over both replicas of each
service. A scheduled job runs once per cadence and never in two processes at
once. When the replica holding a sync's lease is killed, the other one takes
the sync over after the lease expires, and the data ends complete with
nothing twice. With one replica of each service gone, the gateway keeps
serving.
"""

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from devstack import main_job
from devstack.processes import Process
from devstack.stack import FakeSource, RunningStack
from tests.e2e.stacks import REAL_DATA, launch_stack

pytestmark = pytest.mark.e2e

ATTIO_DEALS = 2000
LEASE_SECONDS = 3
RETRY_CADENCE_SECONDS = 1.0
RETRY_JOB = "retry_connector_errors"


@pytest.fixture(scope="module")
def stack(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    fakes = {"attio": FakeSource(0, ["maven-crm"], REAL_DATA, ATTIO_DEALS)}
    env = {
        "LOG_FORMAT": "json",
        "CONNECTORS_LEASE_SECONDS": str(LEASE_SECONDS),
        "CONNECTORS_HEARTBEAT_SECONDS": "0.5",
        "CONNECTORS_ERROR_RETRY_INTERVAL_SECONDS": str(RETRY_CADENCE_SECONDS),
        "CONNECTORS_SYNC_INTERVAL_SECONDS": "600",
        "RAG_INDEX_INTERVAL_SECONDS": "600",
        "RAG_EMBEDDINGS_INTERVAL_SECONDS": "600",
        "RECONCILE_INTERVAL_SECONDS": "600",
    }
    running = launch_stack(postgres_dsn, tmp_path_factory, fakes, env, replicas=2)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> main_job.ApiSession:
    session = main_job.login(
        stack.gateway_url, stack.config.owner_username, stack.config.owner_password
    )
    main_job.select_project(session, "Replicas")
    return session


def _replicas(stack: RunningStack, service: str) -> list[Process]:
    return [
        p
        for p in stack.group.processes
        if p.name == service or p.name.startswith(f"{service}-")
    ]


def _job_runs(process: Process, job_type: str) -> list[tuple[float, float]]:
    """Return (start, finish) of each run of job_type that the process logged."""
    runs = []
    started = None
    for line in process.log_path.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("job_type") != job_type:
            continue
        at = datetime.fromisoformat(event["timestamp"]).timestamp()
        if event["event"] == "scheduler.job_started":
            started = at
        elif event["event"] in ("scheduler.job_finished", "scheduler.job_failed"):
            assert started is not None, line
            runs.append((started, at))
            started = None
    return runs


def test_scheduled_job_runs_once_per_cadence(stack: RunningStack) -> None:
    time.sleep(12)
    runs = sorted(
        run
        for process in _replicas(stack, "connectors")
        for run in _job_runs(process, RETRY_JOB)
    )

    assert len(runs) >= 6
    for (_, finished), (started, _) in zip(runs, runs[1:], strict=False):
        # Never two at once, and the next one a cadence after the last ended.
        assert started - finished >= RETRY_CADENCE_SECONDS * 0.95


def _lease_holder_pid(run: dict[str, Any]) -> int:
    return int(run["lease_holder"].split(":")[1])


def _deals(report: dict[str, Any]) -> dict[str, Any]:
    return next(e for e in report["entities"] if e["entity"] == "deals")


def _reconcile(api: main_job.ApiSession) -> dict[str, Any]:
    """Run reconciliation once the one the finished sync started has ended."""
    deadline = time.monotonic() + 120
    while True:
        response = api.client.post(
            "/connectors/reconciliation/run", json={"connectors": ["attio"]}
        )
        if response.status_code != 409:
            assert response.status_code == 200, response.text
            return dict(response.json())
        assert response.json()["error"]["code"] == "reconciliation_running"
        assert time.monotonic() < deadline, response.text
        time.sleep(0.5)


def test_sync_of_a_killed_replica_is_taken_over(
    stack: RunningStack, api: main_job.ApiSession
) -> None:
    started = api.post("/connectors/attio/sync", {"mode": "full"}, expected=202)
    run_id = started["run_id"]
    deadline = time.monotonic() + 120
    run = api.get(f"/jobs/runs/{run_id}")
    while run["counts"].get("deals_seen", 0) < 500:
        assert time.monotonic() < deadline, run
        time.sleep(0.1)
        run = api.get(f"/jobs/runs/{run_id}")
    holder = _lease_holder_pid(run)
    (victim,) = [p for p in _replicas(stack, "connectors") if p.popen.pid == holder]
    (survivor,) = [p for p in _replicas(stack, "connectors") if p is not victim]
    stack.group.kill(victim.name)
    killed_at = time.time()

    deadline = time.monotonic() + LEASE_SECONDS + 15
    crashed = api.get(f"/jobs/runs/{run_id}")
    while crashed["status"] == "running":
        assert time.monotonic() < deadline, crashed
        time.sleep(0.2)
        crashed = api.get(f"/jobs/runs/{run_id}")
    resumed = main_job.sync_and_wait(api, "attio", 240)
    report = _reconcile(api)
    retries_after_kill = [
        run for run in _job_runs(survivor, RETRY_JOB) if run[0] > killed_at
    ]

    assert crashed["status"] == "abandoned"
    assert resumed["status"] == "succeeded"
    assert _lease_holder_pid(resumed) == survivor.popen.pid
    assert 0 < resumed["counts"]["deals_seen"] < ATTIO_DEALS
    deals = _deals(report)
    assert deals["source_count"] == deals["raw_count"] == ATTIO_DEALS
    assert deals["completeness"] == 1.0
    assert (deals["duplicates"], deals["orphans"], deals["stale"]) == (0, 0, 0)
    assert report["summary"]["completeness"] == 1.0
    assert retries_after_kill


def test_gateway_serves_with_replicas_down(
    stack: RunningStack, api: main_job.ApiSession
) -> None:
    for service in ("auth", "rag", "reconcile"):
        stack.group.kill(_replicas(stack, service)[0].name)
    paths = [
        "/auth/me",
        "/connectors/state",
        "/lightrag/status",
        "/connectors/reconciliation",
        "/jobs/scheduler",
    ]

    statuses = [api.client.get(path).status_code for _ in range(4) for path in paths]
    ready = api.client.get("/health/ready")

    assert statuses == [200] * len(statuses)
    assert ready.status_code == 200
    for service in ("auth", "connectors", "rag", "reconcile"):
        assert len(_replicas(stack, service)) == 1
