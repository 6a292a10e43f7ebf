"""Starting retry runs for the connector errors whose time has come."""

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
