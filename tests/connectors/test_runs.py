"""Sync runs: one at a time per connector, and no run stays running past its lease."""

import asyncio

import asyncpg
import pytest

from services.connectors import repository
from services.connectors.errors import SyncRunNotFound
from services.connectors.runs import SyncRunner
from tests.connectors.conftest import PROJECT


async def _never_ending(run, progress):
    await asyncio.sleep(3600)
    return {}


async def test_second_start_returns_running_run(connectors_pool: asyncpg.Pool) -> None:
    runner = SyncRunner(connectors_pool, lease_seconds=30, heartbeat_seconds=10)

    first = await runner.start(PROJECT, "chatwoot", "incremental", [], _never_ending)
    second = await runner.start(PROJECT, "chatwoot", "full", [], _never_ending)
    await runner.stop()

    assert second.id == first.id
    assert second.already_running is True
    assert first.already_running is False


async def test_concurrent_starts_create_one_run(connectors_pool: asyncpg.Pool) -> None:
    runner = SyncRunner(connectors_pool, lease_seconds=30, heartbeat_seconds=10)

    runs = await asyncio.gather(
        *(
            runner.start(PROJECT, "chatwoot", "incremental", [], _never_ending)
            for _ in range(5)
        )
    )
    await runner.stop()

    assert len({run.id for run in runs}) == 1


async def test_expired_lease_is_abandoned_and_replaced(
    connectors_pool: asyncpg.Pool,
) -> None:
    dead = SyncRunner(connectors_pool, lease_seconds=0.2, heartbeat_seconds=60)
    crashed = await dead.start(PROJECT, "chatwoot", "incremental", [], _never_ending)
    # The process "dies": its task stops without closing the run.
    for task in dead._tasks.values():
        task.cancel()
    async with connectors_pool.acquire() as conn:
        await conn.execute(
            "UPDATE connectors.sync_runs SET status = 'running', finished_at = NULL,"
            " lease_expires_at = now() - interval '1 second' WHERE id = $1::uuid",
            crashed.id,
        )
    live = SyncRunner(connectors_pool, lease_seconds=30, heartbeat_seconds=10)

    replacement = await live.start(
        PROJECT, "chatwoot", "incremental", [], _never_ending
    )
    abandoned = await live.get(PROJECT, crashed.id)
    await live.stop()

    assert replacement.id != crashed.id
    assert abandoned.status == "abandoned"
    assert "lease expired" in (abandoned.error or "")


async def test_interrupted_run_records_failure(connectors_pool: asyncpg.Pool) -> None:
    runner = SyncRunner(connectors_pool, lease_seconds=30, heartbeat_seconds=10)
    run = await runner.start(PROJECT, "chatwoot", "incremental", [], _never_ending)

    await runner.stop()
    finished = await runner.get(PROJECT, run.id)
    async with connectors_pool.acquire() as conn:
        states = await repository.list_states(conn, PROJECT)

    assert finished.status == "failed"
    assert states["chatwoot"].last_error == "interrupted: the service shut down"
    assert states["chatwoot"].running is None


async def test_unknown_run_id_is_not_found(connectors_pool: asyncpg.Pool) -> None:
    runner = SyncRunner(connectors_pool, lease_seconds=30, heartbeat_seconds=10)

    for run_id in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(SyncRunNotFound):
            await runner.get(PROJECT, run_id)


async def test_orphan_of_dead_local_process_is_abandoned(
    connectors_pool: asyncpg.Pool,
) -> None:
    import socket

    dead_holder = f"{socket.gethostname()}:4194303:dead"
    other_host = "elsewhere:1:live"
    async with connectors_pool.acquire() as conn:
        for connector, holder in (("linear", dead_holder), ("attio", other_host)):
            await conn.execute(
                "INSERT INTO connectors.sync_runs (project_id, connector, mode, status,"
                " lease_holder, lease_expires_at) VALUES ($1::uuid, $2, 'full',"
                " 'running', $3, now() + interval '1 hour')",
                PROJECT,
                connector,
                holder,
            )
    runner = SyncRunner(connectors_pool, lease_seconds=30, heartbeat_seconds=10)

    closed = await runner.abandon_orphans()
    async with connectors_pool.acquire() as conn:
        statuses = dict(
            await conn.fetch("SELECT connector, status FROM connectors.sync_runs")
        )

    assert closed == 1
    assert statuses == {"linear": "abandoned", "attio": "running"}
