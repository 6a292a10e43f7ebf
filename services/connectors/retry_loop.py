"""The background loop that retries connector errors when their time comes."""

import asyncio

import asyncpg
import structlog

from services.connectors import failures, sources
from services.connectors.errors import ConnectorNotConfigured
from services.connectors.runs import SyncRunner

log = structlog.get_logger(__name__)


async def retry_due_errors(
    pool: asyncpg.Pool, runner: SyncRunner, bodies: sources.SyncBodies
) -> int:
    """Start a retry run for every project and connector with due errors."""
    async with pool.acquire() as conn:
        due = await failures.projects_with_due_errors(conn)
    started = 0
    for project_id, connector in due:
        try:
            body = bodies.for_connector(connector)
        except ConnectorNotConfigured:
            continue
        run = await runner.start(project_id, connector, "retry", [], body)
        started += not run.already_running
    return started


async def run_retry_loop(
    pool: asyncpg.Pool,
    runner: SyncRunner,
    bodies: sources.SyncBodies,
    interval_seconds: float,
) -> None:
    """Retry due errors every interval until cancelled; a failed round is logged."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await retry_due_errors(pool, runner, bodies)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("connector_errors.retry_round_failed", error=repr(exc))
