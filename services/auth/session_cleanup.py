"""Periodic removal of revoked and expired sessions and of old login failures."""

from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from services.auth import repository, throttle
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


def purge_job(
    pool: asyncpg.Pool, policy: throttle.ThrottlePolicy = throttle.DEFAULT_POLICY
) -> Handler:
    """Return the scheduled job that purges expired sessions and old login failures."""

    async def run(job: JobRow, progress: Progress) -> dict[str, Any]:
        deleted = await purge_expired_sessions(pool)
        failures = await throttle.purge_old_failures(pool, policy, datetime.now(UTC))
        if failures:
            log.info("auth.login_failures_purged", deleted=failures)
        return {"deleted": deleted, "login_failures_deleted": failures}

    return run
