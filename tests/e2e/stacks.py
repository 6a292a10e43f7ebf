"""Starting a whole local stack on its own database for end-to-end tests."""

import asyncio
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devstack.stack import FakeSource, RunningStack, StackConfig, start_stack
from tests.fixtures.database import REPO_ROOT, dsn_with_database

REAL_DATA = REPO_ROOT / ".." / "shared" / "data" / "real"


def launch_stack(
    postgres_dsn: str,
    tmp_path_factory: pytest.TempPathFactory,
    fakes: dict[str, FakeSource],
    extra_env: dict[str, str] | None = None,
    replicas: int = 1,
) -> RunningStack:
    """Start the stack with the given fakes on a new database of the test server."""
    name = f"e2e_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        conn = await asyncpg.connect(postgres_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    folder: Path = tmp_path_factory.mktemp("stack")
    config = StackConfig.on_free_ports(
        data_dir=folder,
        log_dir=folder / "logs",
        database_url=dsn_with_database(postgres_dsn, name),
        fakes=fakes,
        extra_env=extra_env or {},
        replicas=replicas,
    )
    return start_stack(config)


def query(stack: RunningStack, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on the stack's database."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(stack.database_url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(run())
