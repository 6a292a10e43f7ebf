"""connector_errors: backoff, permanent kinds, dead letters, resolution, requeue."""

import asyncpg
import pytest

from services.connectors import failures
from tests.connectors.conftest import PROJECT

RUN = "00000000-0000-0000-0000-0000000000a1"
BACKOFF = failures.Backoff(base_seconds=10, max_seconds=100, max_attempts=3)


async def _record(
    conn, kind: str = "transient", target: str = ""
) -> failures.ConnectorFailure:
    return await failures.record(
        conn,
        BACKOFF,
        project_id=PROJECT,
        connector="linear",
        entity="issues",
        target=target,
        position={"after": "abc"},
        kind=kind,
        message="linear failed with 503",
        run_id=RUN,
    )


def test_backoff_grows_with_full_jitter() -> None:
    delays = [BACKOFF.delay(n) for n in (1, 2, 3, 4, 5)]

    assert 5 <= delays[0] <= 10
    assert 10 <= delays[1] <= 20
    assert 20 <= delays[2] <= 40
    assert 50 <= delays[4] <= 100


async def test_repeat_failure_counts_attempts_then_dead_letters(
    connectors_pool: asyncpg.Pool,
) -> None:
    async with connectors_pool.acquire() as conn:
        first = await _record(conn)
        second = await _record(conn)
        third = await _record(conn)
        rows = await conn.fetchval("SELECT count(*) FROM connectors.connector_errors")

    assert (first.status, first.attempts) == ("pending", 1)
    assert first.next_retry_at is not None
    assert (second.status, second.attempts) == ("retrying", 2)
    assert (third.status, third.attempts, third.next_retry_at) == (
        "dead_letter",
        3,
        None,
    )
    assert rows == 1


@pytest.mark.parametrize("kind", ["authentication", "invalid_record"])
async def test_permanent_errors_wait_for_an_operator(
    connectors_pool: asyncpg.Pool, kind: str
) -> None:
    async with connectors_pool.acquire() as conn:
        failure = await _record(conn, kind)
        due = await failures.due_errors(conn, PROJECT, "linear")
        queued = await failures.make_due(conn, PROJECT, "linear")
        due_after = await failures.due_errors(conn, PROJECT, "linear")

    assert failure.status == "pending"
    assert failure.next_retry_at is None
    assert due == []
    assert queued == 1
    assert [f.id for f in due_after] == [failure.id]


async def test_success_resolves_open_error(
    connectors_pool: asyncpg.Pool,
) -> None:
    async with connectors_pool.acquire() as conn:
        old = await _record(conn, target="ISSUE-1")
        resolved = await failures.resolve(
            conn, PROJECT, "linear", "issues", ["ISSUE-1"]
        )
        new = await _record(conn, target="ISSUE-1")
        listed = await failures.list_errors(
            conn, PROJECT, connector="linear", status=None, limit=10, before_id=None
        )

    assert resolved == 1
    assert new.id != old.id
    assert new.attempts == 1
    assert [(f.id, f.status) for f in listed] == [
        (new.id, "pending"),
        (old.id, "resolved"),
    ]


async def test_requeue_brings_a_dead_letter_back(connectors_pool: asyncpg.Pool) -> None:
    async with connectors_pool.acquire() as conn:
        for _ in range(3):
            dead = await _record(conn)
        requeued = await failures.requeue(conn, PROJECT, dead.id)
        other_project = await failures.requeue(
            conn, "00000000-0000-0000-0000-0000000000c2", dead.id
        )
        due = await failures.due_errors(conn, PROJECT, "linear")

    assert dead.status == "dead_letter"
    assert requeued is not None
    assert (requeued.status, requeued.attempts) == ("pending", 0)
    assert other_project is None
    assert [f.id for f in due] == [dead.id]
