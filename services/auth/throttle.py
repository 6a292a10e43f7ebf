"""Login throttling: failed attempts counted per user name and per client address.

Every attempt is stored as a failure before its password is checked. The
count then includes attempts still in flight, so a burst of parallel guesses
gets no more password checks than the limit allows. A successful login deletes
its own row and clears the user name's earlier failures.
"""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.auth import repository
from services.auth.errors import LoginThrottled


@dataclass(frozen=True)
class ThrottlePolicy:
    """Failures allowed per user name and per client address within the window."""

    max_failures_per_username: int = 5
    max_failures_per_address: int = 20
    window_seconds: int = 15 * 60

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)


DEFAULT_POLICY = ThrottlePolicy()


@dataclass(frozen=True)
class Attempt:
    """A login attempt stored as a failure until it succeeds."""

    failure_id: int
    username: str
    client_address: str


async def begin_attempt(
    pool: asyncpg.Pool,
    policy: ThrottlePolicy,
    username: str,
    client_address: str,
    now: datetime,
) -> Attempt:
    """Store the attempt as a failure, or raise LoginThrottled when over a limit.

    A throttled attempt is not stored, so that retrying while throttled does
    not push the window further out. An empty client_address is not counted
    per address, because every caller without an address would share it.
    """
    since = now - policy.window
    async with pool.acquire() as conn:
        failure_id = await repository.insert_login_failure(
            conn, username, client_address, now
        )
        counts = await repository.count_login_failures(
            conn, username, client_address, since
        )
        username_over = counts.username > policy.max_failures_per_username
        address_over = (
            bool(client_address)
            and counts.client_address > policy.max_failures_per_address
        )
        if not (username_over or address_over):
            return Attempt(failure_id, username, client_address)
        await repository.delete_login_failure(conn, failure_id)
        retry_after = await _seconds_until_free(
            conn,
            policy,
            username=username if username_over else None,
            client_address=client_address if address_over else None,
            now=now,
        )
    raise LoginThrottled(
        f"too many failed logins; try again in {retry_after} seconds",
        retry_after_seconds=retry_after,
    )


async def _seconds_until_free(
    conn: repository.Connection,
    policy: ThrottlePolicy,
    *,
    username: str | None,
    client_address: str | None,
    now: datetime,
) -> int:
    """Return whole seconds until every exceeded limit admits one more attempt.

    A limit of N admits an attempt once fewer than N failures remain in the
    window, that is when the N-th newest failure leaves it.
    """
    since = now - policy.window
    frees_at = now
    if username is not None:
        nth = await repository.nth_newest_username_failure(
            conn, username, since, policy.max_failures_per_username
        )
        if nth is not None:
            frees_at = max(frees_at, nth + policy.window)
    if client_address is not None:
        nth = await repository.nth_newest_address_failure(
            conn, client_address, since, policy.max_failures_per_address
        )
        if nth is not None:
            frees_at = max(frees_at, nth + policy.window)
    # At least 1, because the failures may have been cleared in the meantime.
    return max(1, math.ceil((frees_at - now).total_seconds()))


async def succeed(pool: asyncpg.Pool, attempt: Attempt, now: datetime) -> None:
    """Delete the attempt's own row and clear the user name's earlier failures.

    Cleared failures still count against their client address until they
    leave the window.
    """
    async with pool.acquire() as conn, conn.transaction():
        await repository.delete_login_failure(conn, attempt.failure_id)
        await repository.clear_username_failures(conn, attempt.username, now)


async def purge_old_failures(
    pool: asyncpg.Pool, policy: ThrottlePolicy, now: datetime
) -> int:
    """Delete failures that have left the window, and return the count."""
    async with pool.acquire() as conn:
        return await repository.delete_login_failures_before(conn, now - policy.window)
