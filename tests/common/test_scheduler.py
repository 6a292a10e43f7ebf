"""The scheduler on a real Postgres: leases, backoff, pause, and two replicas."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.common.errors import Aborted
from services.common.migrations import apply_migrations
from services.common.scheduler import NIL_PROJECT, JobRow, Progress, Scheduler

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "auth" / "migrations"
PROJECT = "00000000-0000-0000-0000-0000000000d1"


@pytest.fixture
async def pools(database_dsn: str) -> AsyncIterator[list[asyncpg.Pool]]:
    """Two pools on one database, as two replicas of a service would have."""
    conn = await asyncpg.connect(database_dsn)
    try:
        await apply_migrations(conn, "auth", MIGRATIONS)
    finally:
        await conn.close()
    created = [
        await asyncpg.create_pool(database_dsn, min_size=1, max_size=3)
        for _ in range(2)
    ]
    yield created  # type: ignore[misc]
    for pool in created:
        await pool.close()  # type: ignore[union-attr]


async def _job(pool: asyncpg.Pool, job_type: str = "work") -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await conn.fetchrow(
            "SELECT *, next_run_at - last_finished_at AS gap FROM auth.scheduled_jobs"
            " WHERE job_type = $1",
            job_type,
        )


async def test_due_job_runs_once_and_waits_a_cadence(pools) -> None:
    runs: list[str] = []

    async def work(job: JobRow, progress: Progress) -> dict:
        runs.append(job.project_id)
        return {"done": 1}

    scheduler = Scheduler(pools[0], "auth", {"work": work})
    await scheduler.ensure("work", 60, PROJECT)
    await scheduler.trigger("work", PROJECT)

    first = await scheduler.run_due_once()
    second = await scheduler.run_due_once()
    row = await _job(pools[0])

    assert (first, second) == (True, False)
    assert runs == [PROJECT]
    assert row["last_status"] == "succeeded"
    assert row["lease_holder"] is None
    assert 59 <= row["gap"].total_seconds() <= 61
    assert row["progress"] == '{"done": 1}'


async def test_failure_backs_off_and_counts(pools) -> None:
    async def broken(job: JobRow, progress: Progress) -> dict:
        raise Aborted("source down")

    scheduler = Scheduler(pools[0], "auth", {"work": broken}, max_backoff_seconds=100)
    await scheduler.ensure("work", 10)
    await scheduler.trigger("work", NIL_PROJECT)

    await scheduler.run_due_once()
    row = await _job(pools[0])

    assert row["last_status"] == "failed"
    assert row["last_error"] == "source down"
    assert row["consecutive_failures"] == 1
    # One failure doubles the cadence: the wait lies in [10, 20] with jitter.
    assert 9.5 <= row["gap"].total_seconds() <= 20.5


async def test_two_replicas_never_run_a_job_twice(pools) -> None:
    running = 0
    peak = 0
    calls = 0

    async def slow(job: JobRow, progress: Progress) -> dict:
        nonlocal running, peak, calls
        calls += 1
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.3)
        running -= 1
        return {}

    replicas = [Scheduler(pool, "auth", {"work": slow}) for pool in pools]
    await replicas[0].ensure("work", 60, PROJECT)
    await replicas[0].trigger("work", PROJECT)

    results = await asyncio.gather(*(r.run_due_once() for r in replicas * 3))

    assert sorted(results) == [False] * 5 + [True]
    assert calls == 1
    assert peak == 1


async def test_expired_lease_is_taken_over(pools) -> None:
    async def work(job: JobRow, progress: Progress) -> dict:
        return {}

    dead = Scheduler(pools[0], "auth", {"work": work}, lease_seconds=0.2)
    live = Scheduler(pools[1], "auth", {"work": work})
    await dead.ensure("work", 60)
    await dead.trigger("work", NIL_PROJECT)
    claimed = await dead._claim()  # the replica dies holding the lease
    async with pools[1].acquire() as conn:
        during = await live.list_jobs(conn, None)

    blocked = await live.run_due_once()
    await asyncio.sleep(0.3)
    taken = await live.run_due_once()
    row = await _job(pools[1])

    assert claimed is not None
    assert [(j.status, j.lease_holder) for j in during] == [("running", dead.holder)]
    assert (blocked, taken) == (False, True)
    assert row["last_status"] == "succeeded"


async def test_paused_job_waits_until_resumed(pools) -> None:
    runs = 0

    async def work(job: JobRow, progress: Progress) -> dict:
        nonlocal runs
        runs += 1
        return {}

    scheduler = Scheduler(pools[0], "auth", {"work": work})
    await scheduler.ensure("work", 60, PROJECT)
    await scheduler.trigger("work", PROJECT)
    async with pools[0].acquire() as conn:
        paused = await scheduler.set_paused(conn, "work", PROJECT, True)
        ran_paused = await scheduler.run_due_once()
        await scheduler.set_paused(conn, "work", PROJECT, False)
    ran_resumed = await scheduler.run_due_once()
    await scheduler.trigger("work", PROJECT)
    ran_triggered = await scheduler.run_due_once()

    assert paused == 1
    assert (ran_paused, ran_resumed, ran_triggered) == (False, True, True)
    assert runs == 2


async def test_unknown_job_type_is_rejected(pools) -> None:
    scheduler = Scheduler(pools[0], "auth", {})

    with pytest.raises(Exception, match="unknown job type"):
        await scheduler.trigger("nope", str(uuid.uuid4()))


async def test_new_job_waits_one_cadence(pools) -> None:
    async def work(job: JobRow, progress: Progress) -> dict:
        return {}

    scheduler = Scheduler(pools[0], "auth", {"work": work})
    await scheduler.ensure("work", 60, PROJECT)

    assert await scheduler.run_due_once() is False
