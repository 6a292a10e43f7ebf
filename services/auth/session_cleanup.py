"""Periodic removal of revoked and expired sessions."""

import asyncio
from datetime import UTC, datetime

import asyncpg
import structlog

from services.auth import repository

log = structlog.get_logger(__name__)


async def purge_expired_sessions(pool: asyncpg.Pool) -> int:
    """Delete revoked sessions and those past either expiry, and return the count."""
    async with pool.acquire() as conn:
        deleted = await repository.delete_expired_sessions(conn, datetime.now(UTC))
    if deleted:
        log.info("auth.sessions_purged", deleted=deleted)
    return deleted


async def run_session_cleanup(pool: asyncpg.Pool, interval_seconds: float) -> None:
    """Purge expired sessions every interval_seconds until cancelled.

    Every replica runs this loop. The DELETE is idempotent, so overlapping runs
    only repeat work. A failed purge is logged and retried at the next interval.
    """
    while True:
        try:
            await purge_expired_sessions(pool)
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
            log.exception("auth.sessions_purge_failed")
        await asyncio.sleep(interval_seconds)
