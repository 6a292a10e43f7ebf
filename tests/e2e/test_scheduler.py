"""Scheduled jobs through the REST API: a sync flows into indexing and embeddings.

The stack runs the RAG jobs every 600 s, so chunks that become ready after a
sync can only come from the chain a finished sync starts.
"""

import time
from collections.abc import Iterator

import pytest

from devstack import main_job
from devstack.stack import FakeSource, RunningStack
from tests.e2e.stacks import REAL_DATA, launch_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    fakes = {"chatwoot": FakeSource(0, ["banking"], REAL_DATA, 3)}
    env = {
        "RAG_INDEX_INTERVAL_SECONDS": "600",
        "RAG_EMBEDDINGS_INTERVAL_SECONDS": "600",
        "CONNECTORS_SYNC_INTERVAL_SECONDS": "600",
    }
    running = launch_stack(postgres_dsn, tmp_path_factory, fakes, env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> main_job.ApiSession:
    session = main_job.login(
        stack.gateway_url, stack.config.owner_username, stack.config.owner_password
    )
    main_job.select_project(session, "Jobs")
    return session


def _jobs(api: main_job.ApiSession) -> dict[tuple[str, str], dict]:
    listed = api.get("/jobs/scheduler")
    assert listed["unavailable"] == {}
    return {(job["service"], job["job_type"]): job for job in listed["jobs"]}


def test_finished_sync_flows_into_ready_chunks(api: main_job.ApiSession) -> None:
    run = main_job.sync_and_wait(api, "chatwoot")
    deadline = time.monotonic() + 180
    status = api.get("/lightrag/status")
    while status["chunks_by_status"].get("ready", 0) == 0:
        assert time.monotonic() < deadline, status
        time.sleep(1)
        status = api.get("/lightrag/status")
    jobs = _jobs(api)

    assert run["status"] == "succeeded"
    assert jobs[("rag", "index")]["last_status"] == "succeeded"
    assert jobs[("rag", "embeddings")]["last_status"] in ("succeeded", "")
    assert jobs[("connectors", "sync_chatwoot")]["cadence_seconds"] == 600
    assert jobs[("connectors", "retry_connector_errors")]["project_id"] == ""
    assert jobs[("auth", "session_cleanup")]["status"] in ("scheduled", "running")


def test_admin_pauses_and_resumes_a_job(api: main_job.ApiSession) -> None:
    paused = api.post("/jobs/index/pause")
    listed = _jobs(api)
    resumed = api.post("/jobs/index/resume")
    unknown = api.client.post("/jobs/no_such_job/pause")

    index = next(j for j in paused["jobs"] if j["job_type"] == "index")
    assert index["paused"] is True
    assert index["status"] == "paused"
    assert listed[("rag", "index")]["paused"] is True
    assert (
        next(j for j in resumed["jobs"] if j["job_type"] == "index")["paused"] is False
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_job_type"
