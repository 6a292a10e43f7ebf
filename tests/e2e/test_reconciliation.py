"""Runbook §4 through the REST API: a deal the dashboard lacks is found and fixed.

A finished sync makes reconciliation due. Then a deal lost from the raw table
shows as missing with its id, and the record lookup finds only its mirror
row. A targeted
sync fetches it again, so the next reconciliation is complete.
"""

import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack import main_job
from devstack.stack import FakeSource, RunningStack
from tests.e2e.stacks import launch_stack, query

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    env = {"CONNECTORS_SYNC_INTERVAL_SECONDS": "600"}
    fakes = {"attio": FakeSource(0)}
    running = launch_stack(postgres_dsn, tmp_path_factory, fakes, env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> main_job.ApiSession:
    session = main_job.login(
        stack.gateway_url, stack.config.owner_username, stack.config.owner_password
    )
    main_job.select_project(session, "Reconciliation")
    return session


def _deals(report: dict[str, Any]) -> dict[str, Any]:
    return next(
        e
        for e in report["entities"]
        if (e["connector"], e["entity"]) == ("attio", "deals")
    )


def _after_sync_report(api: main_job.ApiSession) -> dict[str, Any]:
    """Wait for the reconciliation that a finished sync makes due."""
    deadline = time.monotonic() + 120
    report = api.get("/connectors/reconciliation")
    while report["run"] is None or report["run"]["status"] == "running":
        assert time.monotonic() < deadline, report
        time.sleep(0.5)
        report = api.get("/connectors/reconciliation")
    return report


def test_runbook_walk_finds_and_repairs_a_missing_deal(
    api: main_job.ApiSession, stack: RunningStack
) -> None:
    main_job.sync_and_wait(api, "attio")
    scheduled = _after_sync_report(api)
    deal = query(
        stack,
        "DELETE FROM connectors.attio_opportunities_raw WHERE external_id = ("
        " SELECT external_id FROM connectors.attio_opportunities_raw"
        " ORDER BY external_id LIMIT 1) RETURNING external_id",
    )[0]["external_id"]

    found = api.post("/connectors/reconciliation/run", {"connectors": ["attio"]})
    lookup = api.client.get(f"/connectors/attio/records/{deal}")
    targeted = api.post(
        "/connectors/attio/sync",
        {"external_ids": [deal]},
        expected=202,
    )
    main_job.wait_for_run(api, targeted["run_id"], 120)
    fixed = api.post("/connectors/reconciliation/run", {"connectors": ["attio"]})
    latest = api.get("/connectors/reconciliation")
    metrics = api.client.get("/metrics").text
    scheduler = api.get("/jobs/scheduler")["jobs"]
    warnings = query(
        stack,
        "SELECT status, details FROM auth.audit_events"
        " WHERE action = 'reconciliation.run' ORDER BY id",
    )

    assert _deals(scheduled)["completeness"] == 1.0
    assert scheduled["summary"]["missing"] == 0
    deals = _deals(found)
    assert deals["missing_in_raw"] == 1
    assert [s["external_id"] for s in deals["samples"]] == [deal]
    assert deals["completeness"] < 1.0
    # The raw row is gone, and the lookup shows the mirror row still there.
    assert lookup.status_code == 200
    assert lookup.json()["raw"] is None
    assert lookup.json()["mirror"]["external_ref"] == deal
    assert _deals(fixed)["missing_in_raw"] == 0
    assert _deals(fixed)["completeness"] == 1.0
    assert fixed["summary"]["completeness"] == 1.0
    assert latest["run"]["id"] == fixed["run"]["id"]
    assert {p["entity"] for p in latest["trend"]} >= {"companies", "people", "deals"}
    series = 'connector="attio",entity="deals"'
    assert f"reconciliation_completeness{{{series}}} 1.0" in metrics
    assert any(
        job["service"] == "reconcile" and job["job_type"] == "reconcile"
        for job in scheduler
    )
    assert [row["status"] for row in warnings] == ["ok", "warning", "ok"]


def test_viewer_rules_and_bad_input(api: main_job.ApiSession) -> None:
    unknown = api.client.post(
        "/connectors/reconciliation/run", json={"connectors": ["salesforce"]}
    )
    extra = api.client.post("/connectors/reconciliation/run", json={"fix": True})
    days = api.client.get("/connectors/reconciliation", params={"days": 0})

    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "connector_not_found"
    assert extra.status_code == 422
    assert days.status_code == 422
