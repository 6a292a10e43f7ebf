"""GET /metrics shows the runbook's monitoring figures exactly.

The scenario is written straight into the services' tables: ten chunks of
which three failed, two connector errors of which one is a dead letter, and
four search queries of which one failed. A reconciliation of Attio deals
found 90 of 100 current, 6 missing in raw, 4 missing in the mirror and one
duplicate.
"""

import uuid
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import RunningStack
from tests.e2e.stacks import launch_stack, query

pytestmark = pytest.mark.e2e

PROJECT = str(uuid.uuid4())


@pytest.fixture(scope="module")
def stack(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    running = launch_stack(postgres_dsn, tmp_path_factory, {})
    yield running
    running.stop()


def _script(stack: RunningStack) -> None:
    for n in range(10):
        query(
            stack,
            "INSERT INTO rag.rag_chunks (project_id, source_type, external_id,"
            " chunk_index, text, token_count, content_hash, embedding_status)"
            " VALUES ($1::uuid, 'linear_issue', $2, 0, 'text', 1, $2, $3)",
            PROJECT,
            f"issue-{n}",
            "failed" if n < 3 else "ready",
        )
    for status, connector in (("dead_letter", "attio"), ("pending", "linear")):
        query(
            stack,
            "INSERT INTO connectors.connector_errors (project_id, connector, entity,"
            " kind, status, message) VALUES ($1::uuid, $2, 'deals', 'transient',"
            " $3, 'failed')",
            PROJECT,
            connector,
            status,
        )
    for status, duration in (("ok", 20), ("ok", 40), ("degraded", 300), ("failed", 7)):
        query(
            stack,
            "INSERT INTO rag.lightrag_query_runs (project_id, question, mode, status,"
            " duration_ms) VALUES ($1::uuid, 'q', 'hybrid', $2, $3)",
            PROJECT,
            status,
            duration,
        )


def _script_reconciliation(stack: RunningStack) -> None:
    run_id = query(
        stack,
        "INSERT INTO reconcile.reconciliation_runs (project_id, status, requested_by)"
        " VALUES ($1::uuid, 'succeeded', 'test') RETURNING id",
        PROJECT,
    )[0]["id"]
    query(
        stack,
        "INSERT INTO reconcile.sync_reconciliation_metrics (run_id, project_id,"
        " connector, entity, status, source_count, raw_count, mirror_count,"
        " current_count, missing_in_raw, missing_in_mirror, duplicates,"
        " completeness) VALUES ($1, $2::uuid, 'attio', 'deals', 'ok', 100, 94,"
        " 90, 90, 6, 4, 1, 0.9)",
        run_id,
        PROJECT,
    )


def _samples(stack: RunningStack) -> dict[tuple[str, tuple], float]:
    text = httpx.get(f"{stack.gateway_url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_show_the_scripted_figures(stack: RunningStack) -> None:
    _script(stack)
    _script_reconciliation(stack)

    samples = _samples(stack)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("rag_chunks", status="failed") == 3
    assert value("rag_chunks", status="ready") == 7
    assert (
        value(
            "connector_errors",
            connector="attio",
            kind="transient",
            status="dead_letter",
        )
        == 1
    )
    assert (
        value(
            "connector_errors", connector="linear", kind="transient", status="pending"
        )
        == 1
    )
    assert value("lightrag_queries_total", status="failed") == 1
    assert value("lightrag_queries_total", status="ok") == 2
    assert value("lightrag_query_duration_seconds_count") == 4
    assert value("lightrag_query_duration_seconds_bucket", le="0.025") == 2
    assert value("lightrag_query_duration_seconds_bucket", le="0.25") == 3
    deals = {"connector": "attio", "entity": "deals"}
    assert value("reconciliation_completeness", **deals) == 0.9
    assert value("reconciliation_missing", where="raw", **deals) == 6
    assert value("reconciliation_missing", where="mirror", **deals) == 4
    assert value("reconciliation_duplicates", **deals) == 1
    for service in ("auth", "connectors", "rag", "reconcile"):
        assert value("gateway_service_metrics_up", service=service) == 1
