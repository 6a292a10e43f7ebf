"""Scratch databases of the benchmarks' embedded Postgres.

Every timed run writes into an empty database of its own. The benchmarks
drop them all before stopping the server, so repeated runs do not pile up
gigabytes under var/bench. A run that crashed leaves its databases to the
next run's cleanup.
"""

import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.results import REPO
from services.common.migrations import apply_migrations

PREFIX = "bench_"


async def fresh_database(server: str, schemas: Sequence[str]) -> str:
    """Create an empty database with the given services' schemas; return its DSN."""
    name = f"{PREFIX}{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    conn = await asyncpg.connect(dsn)
    try:
        for schema in schemas:
            folder = REPO / "services" / schema / "migrations"
            await apply_migrations(conn, schema, folder)
    finally:
        await conn.close()
    return dsn


async def drop_scratch_databases(server: str) -> int:
    """Drop every scratch database on the server; return how many there were."""
    admin = await asyncpg.connect(server)
    try:
        names = [
            row["datname"]
            for row in await admin.fetch(
                "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
                PREFIX,
            )
        ]
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    return len(names)
