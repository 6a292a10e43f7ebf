"""The three connectors under faults, churn and a crash, through the REST API.

One stack serves the real data sets through the three fakes. The connectors
service runs with short leases, two HTTP attempts per request and fast error
backoff, so failures reach connector_errors and their retries finish in
seconds.
"""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack import main_job
from devstack.stack import FakeSource, RunningStack
from tests.e2e.stacks import REAL_DATA, launch_stack, query

pytestmark = pytest.mark.e2e

ATTIO_DEALS = 2000
LEASE_SECONDS = 3
FAULT_KINDS = {
    "chatwoot": ["429", "500", "503", "timeout"],
    "linear": ["ratelimited", "429", "502", "timeout"],
    "attio": ["429", "429-seconds", "503", "timeout"],
}
CONNECTORS = tuple(FAULT_KINDS)


@pytest.fixture(scope="module")
def stack(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    fakes = {
        "chatwoot": FakeSource(0, ["banking"], REAL_DATA, 40),
        "linear": FakeSource(0, ["github-issues"], REAL_DATA),
        "attio": FakeSource(0, ["maven-crm"], REAL_DATA, ATTIO_DEALS),
    }
    env = {
        "CONNECTORS_LEASE_SECONDS": str(LEASE_SECONDS),
        "CONNECTORS_HEARTBEAT_SECONDS": "0.5",
        "CONNECTORS_HTTP_MAX_ATTEMPTS": "2",
        "CONNECTORS_HTTP_BACKOFF_BASE_SECONDS": "0.05",
        "CONNECTORS_HTTP_BACKOFF_MAX_SECONDS": "0.2",
        "CONNECTORS_HTTP_TIMEOUT_SECONDS": "1",
        "CONNECTORS_ERROR_BACKOFF_BASE_SECONDS": "0.2",
        "CONNECTORS_ERROR_BACKOFF_MAX_SECONDS": "1",
        "CONNECTORS_ERROR_MAX_ATTEMPTS": "50",
        "CONNECTORS_ERROR_RETRY_INTERVAL_SECONDS": "0.5",
        # A finished sync makes reconciliation list every source id. These
        # tests count the requests of syncs alone, so nothing listens there.
        "CONNECTORS_RECONCILE_ADDRESS": "127.0.0.1:9",
    }
    running = launch_stack(postgres_dsn, tmp_path_factory, fakes, env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> main_job.ApiSession:
    return main_job.login(
        stack.gateway_url, stack.config.owner_username, stack.config.owner_password
    )


def _admin(stack: RunningStack, name: str, path: str, body: Any = None) -> None:
    url = f"{stack.fake_url(name)}/__fake__/{path}"
    response = httpx.post(url, json=body) if body else httpx.delete(url)
    assert response.status_code in (200, 204), response.text


def _calm(stack: RunningStack) -> None:
    for name in CONNECTORS:
        _admin(stack, name, "faults")
        _admin(stack, name, "churn")


def _start(api: main_job.ApiSession, connector: str, mode: str = "full") -> str:
    run = api.post(f"/connectors/{connector}/sync", {"mode": mode}, expected=202)
    return str(run["run_id"])


def _finish(api: main_job.ApiSession, run_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    run = api.get(f"/jobs/runs/{run_id}")
    while run["status"] == "running":
        assert time.monotonic() < deadline, f"run {run_id} still running"
        time.sleep(0.3)
        run = api.get(f"/jobs/runs/{run_id}")
    return dict(run)


def _open_errors(api: main_job.ApiSession) -> list[dict]:
    errors = api.get("/connectors/errors?limit=500")["errors"]
    return [e for e in errors if e["status"] != "resolved"]


def _source_linear(stack: RunningStack) -> dict[str, str]:
    """Every issue id in the fake Linear with its updatedAt, archived included."""
    found: dict[str, str] = {}
    after = None
    key = stack.config.fakes["linear"].secret
    while True:
        body = {
            "query": "query($after: String) { issues(first: 100, after: $after,"
            " includeArchived: true) { nodes { id updatedAt }"
            " pageInfo { hasNextPage endCursor } } }",
            "variables": {"after": after},
        }
        page = httpx.post(
            f"{stack.fake_url('linear')}/graphql",
            json=body,
            headers={"Authorization": key},
        ).json()["data"]["issues"]
        found.update({node["id"]: node["updatedAt"] for node in page["nodes"]})
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def _source_attio(stack: RunningStack, object_slug: str) -> dict[str, dict]:
    token = stack.config.fakes["attio"].secret
    found: dict[str, dict] = {}
    offset = 0
    while True:
        data = httpx.post(
            f"{stack.fake_url('attio')}/v2/objects/{object_slug}/records/query",
            json={"limit": 500, "offset": offset},
            headers={"Authorization": f"Bearer {token}"},
        ).json()["data"]
        found.update({r["id"]["record_id"]: r for r in data})
        if len(data) < 500:
            return found
        offset += 500


def _stage(record: dict) -> str | None:
    entries = [e for e in record["values"]["stage"] if e["active_until"] is None]
    return entries[0]["status"]["title"] if entries else None


def _source_chatwoot_count(stack: RunningStack) -> int:
    fake = stack.config.fakes["chatwoot"]
    response = httpx.get(
        f"{stack.fake_url('chatwoot')}/api/v1/accounts/1/conversations",
        params={"status": "all"},
        headers={"api_access_token": fake.secret},
    )
    return int(response.json()["data"]["meta"]["all_count"])


def _project(api: main_job.ApiSession, name: str) -> str:
    return main_job.select_project(api, name)


def _assert_complete(stack: RunningStack, project: str) -> None:
    issues = {
        r["external_id"]: r["source_updated_at"]
        for r in query(
            stack,
            "SELECT external_id, source_updated_at FROM connectors.linear_issues_raw"
            " WHERE project_id = $1::uuid AND deleted_at IS NULL",
            project,
        )
    }
    source_issues = _source_linear(stack)
    assert set(issues) == set(source_issues)
    assert all(
        issues[key].isoformat(timespec="milliseconds").replace("+00:00", "Z")
        == source_issues[key]
        for key in source_issues
    )
    deals = {
        r["external_id"]: r["stage"]
        for r in query(
            stack,
            "SELECT external_id, stage FROM connectors.attio_opportunities_raw"
            " WHERE project_id = $1::uuid AND deleted_at IS NULL",
            project,
        )
    }
    source_deals = _source_attio(stack, "deals")
    assert deals == {key: _stage(record) for key, record in source_deals.items()}
    mirrored = query(
        stack,
        "SELECT count(*) AS n, count(DISTINCT external_ref) AS refs"
        " FROM connectors.crm_opportunities WHERE project_id = $1::uuid"
        " AND deleted_at IS NULL",
        project,
    )[0]
    assert mirrored["n"] == mirrored["refs"] == len(source_deals)
    conversations = query(
        stack,
        "SELECT count(*) AS n FROM connectors.cw_conversations"
        " WHERE project_id = $1::uuid",
        project,
    )[0]["n"]
    assert conversations == _source_chatwoot_count(stack)


def test_syncs_end_complete_under_faults_and_churn(
    stack: RunningStack, api: main_job.ApiSession
) -> None:
    project = _project(api, "Chaos")
    for seed, name in enumerate(CONNECTORS):
        plan = {
            "rate": 0.2,
            "kinds": FAULT_KINDS[name],
            "seed": seed,
            "hang_seconds": 1.5,
        }
        _admin(stack, name, "faults", plan)
        _admin(stack, name, "churn", {"every": 9, "seed": seed})

    runs = [_finish(api, _start(api, name)) for name in CONNECTORS]
    deadline = time.monotonic() + 300
    while _open_errors(api) or any(
        s["status"] == "running" for s in api.get("/connectors/state")["connectors"]
    ):
        assert time.monotonic() < deadline, _open_errors(api)
        time.sleep(0.5)
    _calm(stack)
    finals = [_finish(api, _start(api, name, "incremental")) for name in CONNECTORS]

    errors = api.get("/connectors/errors?limit=500")["errors"]
    assert {run["status"] for run in finals} == {"succeeded"}
    assert len(errors) > 0
    assert {e["status"] for e in errors} == {"resolved"}
    assert {e["kind"] for e in errors} <= {
        "rate_limited",
        "transient",
        "invalid_response",
    }
    assert any(run["status"] == "failed" for run in runs)
    _assert_complete(stack, project)


def test_killed_sync_expires_and_the_next_run_resumes(
    stack: RunningStack, api: main_job.ApiSession
) -> None:
    _calm(stack)
    project = _project(api, "Crash")
    run_id = _start(api, "attio")
    deadline = time.monotonic() + 120
    while api.get(f"/jobs/runs/{run_id}")["counts"].get("deals_seen", 0) < 500:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stack.group.restart("connectors")
    killed_at = time.monotonic()

    states: list[str] = []
    while True:
        try:
            attio = next(
                s
                for s in api.get("/connectors/state")["connectors"]
                if s["connector"] == "attio"
            )
        except main_job.MainJobError:
            time.sleep(0.2)  # the restarted service is not up yet
            continue
        states.append(attio["status"])
        if attio["status"] != "running":
            break
        assert time.monotonic() - killed_at < LEASE_SECONDS + 15
        time.sleep(0.2)
    crashed = api.get(f"/jobs/runs/{run_id}")
    resumed = _finish(api, _start(api, "attio", "incremental"))

    assert crashed["status"] == "abandoned"
    assert resumed["status"] == "succeeded"
    assert 0 < resumed["counts"]["deals_seen"] < ATTIO_DEALS
    for linear_or_chatwoot in ("linear", "chatwoot"):
        assert _finish(api, _start(api, linear_or_chatwoot))["status"] == "succeeded"
    _assert_complete(stack, project)


def _scheduled(api: main_job.ApiSession, job_type: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        listed = api.get("/jobs/scheduler")
        found = [j for j in listed["jobs"] if j["job_type"] == job_type]
        if found:
            return found[0]
        # A restarted service is not up yet.
        assert time.monotonic() < deadline, listed["unavailable"]
        time.sleep(0.2)


def test_killed_scheduled_sync_is_taken_over(
    stack: RunningStack, api: main_job.ApiSession
) -> None:
    _calm(stack)
    project = _project(api, "Scheduled")
    api.post("/jobs/sync_attio/trigger")
    deadline = time.monotonic() + 60
    job = _scheduled(api, "sync_attio")
    while job["status"] != "running" or "run_id" not in job["progress"]:
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = _scheduled(api, "sync_attio")
    run_id = job["progress"]["run_id"]
    while api.get(f"/jobs/runs/{run_id}")["counts"].get("deals_seen", 0) < 500:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    states = {s["connector"]: s for s in api.get("/connectors/state")["connectors"]}
    stack.group.restart("connectors")
    killed_at = time.monotonic()

    after = _scheduled(api, "sync_attio")
    while after["last_status"] != "succeeded" or after["status"] == "running":
        assert time.monotonic() - killed_at < LEASE_SECONDS + 60, after
        time.sleep(0.3)
        after = _scheduled(api, "sync_attio")
    attio = next(
        s
        for s in api.get("/connectors/state")["connectors"]
        if s["connector"] == "attio"
    )

    assert job["lease_holder"]
    assert job["lease_expires_at"] is not None
    assert states["attio"]["status"] == "running"
    assert after["status"] == "scheduled"
    assert after["consecutive_failures"] == 0
    assert attio["status"] == "idle"
    _assert_complete_attio(stack, project)


def _assert_complete_attio(stack: RunningStack, project: str) -> None:
    stored = query(
        stack,
        "SELECT count(*) AS n, count(DISTINCT external_id) AS ids"
        " FROM connectors.attio_opportunities_raw WHERE project_id = $1::uuid"
        " AND deleted_at IS NULL",
        project,
    )[0]
    assert stored["n"] == stored["ids"] == len(_source_attio(stack, "deals"))


def test_bad_token_records_one_error(
    stack: RunningStack, api: main_job.ApiSession
) -> None:
    _calm(stack)
    _project(api, "Tokens")
    _admin(stack, "linear", "faults", {"rate": 1.0, "kinds": ["401"]})
    httpx.delete(f"{stack.fake_url('linear')}/__fake__/stats")

    run = _finish(api, _start(api, "linear"))
    time.sleep(3)  # six rounds of the retry loop
    requests = httpx.get(f"{stack.fake_url('linear')}/__fake__/stats").json()["total"]
    errors = api.get("/connectors/errors?connector=linear")["errors"]
    _admin(stack, "linear", "faults")
    retried = api.post(
        "/connectors/errors/retry", {"connector": "linear"}, expected=202
    )
    _finish(api, retried["runs"][0]["run_id"])
    after = api.get("/connectors/errors?connector=linear")["errors"]

    assert run["status"] == "failed"
    assert "LINEAR_API_KEY" in run["error"]
    assert requests == 1
    assert [(e["kind"], e["status"], e["attempts"]) for e in errors] == [
        ("authentication", "pending", 1)
    ]
    assert errors[0]["next_retry_at"] is None
    assert retried["queued"] == 1
    assert [e["status"] for e in after] == ["resolved"]


def test_record_lookup_and_crm_lists(
    stack: RunningStack, api: main_job.ApiSession
) -> None:
    _calm(stack)
    _project(api, "Lookup")
    assert _finish(api, _start(api, "attio"))["status"] == "succeeded"
    deals = api.get("/crm/opportunities?limit=5")
    deal = next(d for d in deals["opportunities"] if d["account_external_ref"])
    record = api.get(f"/connectors/attio/records/{deal['external_ref']}")
    unknown = api.client.get("/connectors/jira/records/1")
    missing = api.client.get("/connectors/attio/records/no-such-id")
    no_error = api.client.post("/connectors/errors/999999/retry")

    assert deals["unmapped_deals"] == 0
    assert deal["source_system"] == "attio"
    assert record["table"] == "attio_opportunities_raw"
    assert record["raw"]["external_id"] == deal["external_ref"]
    assert record["mirror"]["external_ref"] == deal["external_ref"]
    assert record["mirror"]["source_system"] == "attio"
    assert _failure(unknown) == (404, "connector_not_found")
    assert _failure(missing) == (404, "record_not_found")
    assert _failure(no_error) == (404, "connector_error_not_found")


def _failure(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]
