import asyncio

import asyncpg
import pytest
from pydantic import SecretStr

from services.auth import authentication
from services.auth.bootstrap import bootstrap_owner, bootstrap_owner_from_settings
from services.auth.errors import InvalidProjectName
from services.auth.sessions import SessionConfig
from services.auth.settings import AuthSettings
from tests.auth.helpers import audit_rows

CLIENT = authentication.ClientInfo(address="127.0.0.1", user_agent="pytest")


async def count(pool: asyncpg.Pool, table: str) -> int:
    value = await pool.fetchval(f"SELECT count(*) FROM auth.{table}")
    return int(value)


async def test_bootstrap_creates_owner_with_project(auth_pool: asyncpg.Pool) -> None:
    created = await bootstrap_owner(auth_pool, "owner", "first-password", "Default")

    row = await auth_pool.fetchrow(
        "SELECT u.username, p.name, m.role FROM auth.users u"
        " JOIN auth.memberships m ON m.user_id = u.id"
        " JOIN auth.projects p ON p.id = m.project_id"
    )
    assert created is True
    assert row is not None
    assert dict(row) == {"username": "owner", "name": "Default", "role": "owner"}


async def test_bootstrap_is_idempotent_and_keeps_password(
    auth_pool: asyncpg.Pool, session_config: SessionConfig
) -> None:
    await bootstrap_owner(auth_pool, "owner", "first-password", "Default")

    again = await bootstrap_owner(auth_pool, "owner", "second-password", "Other")

    assert again is False
    assert await count(auth_pool, "users") == 1
    assert await count(auth_pool, "projects") == 1
    opened = await authentication.log_in(
        auth_pool, session_config, "owner", "first-password", CLIENT
    )
    assert opened.username == "owner"


async def test_concurrent_bootstraps_create_one_owner(
    auth_pool: asyncpg.Pool,
) -> None:
    results = await asyncio.gather(
        bootstrap_owner(auth_pool, "owner", "pw", "Default"),
        bootstrap_owner(auth_pool, "owner", "pw", "Default"),
    )

    assert sorted(results) == [False, True]
    assert await count(auth_pool, "users") == 1
    assert await count(auth_pool, "projects") == 1


async def test_bootstrap_is_audited(auth_pool: asyncpg.Pool) -> None:
    await bootstrap_owner(auth_pool, "owner", "bootstrap-secret", "Default")

    rows = await audit_rows(auth_pool, "user.create")

    assert len(rows) == 1
    assert rows[0]["actor_kind"] == "service"
    assert rows[0]["project_id"] is not None
    assert "bootstrap-secret" not in rows[0]["details"]


async def test_bootstrap_rejects_invalid_project_name(
    auth_pool: asyncpg.Pool,
) -> None:
    with pytest.raises(InvalidProjectName):
        await bootstrap_owner(auth_pool, "owner", "pw", "   ")

    assert await count(auth_pool, "users") == 0


async def test_bootstrap_from_settings_needs_password(
    auth_pool: asyncpg.Pool,
) -> None:
    settings = AuthSettings(owner_username="owner", owner_password=None)

    created = await bootstrap_owner_from_settings(auth_pool, settings)

    assert created is False
    assert await count(auth_pool, "users") == 0


async def test_bootstrap_from_settings_uses_configured_names(
    auth_pool: asyncpg.Pool,
) -> None:
    settings = AuthSettings(
        owner_username="admin",
        owner_password=SecretStr("pw"),
        owner_project_name="Ops",
    )

    created = await bootstrap_owner_from_settings(auth_pool, settings)

    names = await auth_pool.fetchrow(
        "SELECT u.username, p.name FROM auth.users u"
        " JOIN auth.projects p ON p.created_by = u.id"
    )
    assert created is True
    assert names is not None
    assert tuple(names) == ("admin", "Ops")
