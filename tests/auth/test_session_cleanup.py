from datetime import UTC, datetime, timedelta

import asyncpg

from services.auth import repository
from services.auth.session_cleanup import purge_expired_sessions
from tests.auth.helpers import create_user


async def insert_session(
    pool: asyncpg.Pool,
    user_id: str,
    name: str,
    *,
    idle_offset: timedelta,
    absolute_offset: timedelta,
    revoked: bool = False,
) -> None:
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        await repository.insert_session(
            conn,
            repository.NewSession(
                id_hash=name,
                user_id=user_id,
                created_at=now - timedelta(hours=1),
                idle_expires_at=now + idle_offset,
                absolute_expires_at=now + absolute_offset,
                client_address="",
                user_agent="",
            ),
        )
        if revoked:
            await repository.revoke_session(conn, name, now)


async def test_purge_deletes_only_dead_sessions(auth_pool: asyncpg.Pool) -> None:
    user = await create_user(auth_pool, "alice", "pw")
    hour = timedelta(hours=1)
    await insert_session(
        auth_pool, user.id, "live", idle_offset=hour, absolute_offset=2 * hour
    )
    await insert_session(
        auth_pool, user.id, "idle", idle_offset=-hour, absolute_offset=hour
    )
    await insert_session(
        auth_pool, user.id, "absolute", idle_offset=hour, absolute_offset=-hour
    )
    await insert_session(
        auth_pool,
        user.id,
        "revoked",
        idle_offset=hour,
        absolute_offset=2 * hour,
        revoked=True,
    )

    deleted = await purge_expired_sessions(auth_pool)

    remaining = await auth_pool.fetch("SELECT id_hash FROM auth.sessions")
    assert deleted == 3
    assert [row["id_hash"] for row in remaining] == ["live"]
