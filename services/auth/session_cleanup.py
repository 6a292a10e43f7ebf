"""Periodic removal of revoked and expired sessions."""

from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from services.auth import repository
from services.common.scheduler import Handler, JobRow, Progress

log = structlog.get_logger(__name__)


async def purge_expired_sessions(pool: asyncpg.Pool) -> int:
    """Delete revoked sessions and those past either expiry, and return the count."""
    async with pool.acquire() as conn:
        deleted = await repository.delete_expired_sessions(conn, datetime.now(UTC))
    if deleted:
        log.info("auth.sessions_purged", deleted=deleted)
    return deleted


CLEANUP_JOB = "session_cleanup"


def purge_job(pool: asyncpg.Pool) -> Handler:
    """Return the scheduled job that purges expired sessions."""

    async def run(job: JobRow, progress: Progress) -> dict[str, Any]:
        return {"deleted": await purge_expired_sessions(pool)}

    return run
