"""The life of a service process: settings, logging, tracing, pool, server, shutdown."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import structlog

from services.common import database, grpc_server
from services.common.logging import configure_logging
from services.common.migrations import apply_migrations, migrations_current
from services.common.settings import CommonSettings
from services.common.telemetry import configure_tracing

log = structlog.get_logger(__name__)

HEALTH_INTERVAL_SECONDS = 5.0

Register = Callable[[grpc.aio.Server, asyncpg.Pool], Awaitable[Sequence[str]]]


@dataclass(frozen=True)
class ServiceSpec:
    """The parts that differ between services: name, schema, servicers, port."""

    name: str
    schema: str
    migrations_dir: Path
    register: Register
    listen_address: str
    pool_init: database.ConnectionInit | None = None
    # Awaited at shutdown, before the pool closes; register may add to it.
    on_shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


async def prepare_database(spec: ServiceSpec, settings: CommonSettings) -> asyncpg.Pool:
    """Resolve the DSN, apply this service's migrations and open its pool."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    dsn = database.resolve_database_url(url, settings.data_dir)
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, spec.schema, spec.migrations_dir)
    finally:
        await conn.close()
    return await database.create_pool(
        dsn,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        statement_cache_size=settings.db_statement_cache_size,
        init=spec.pool_init,
    )


async def run_service(spec: ServiceSpec, settings: CommonSettings) -> None:
    """Run one gRPC service until SIGTERM, reporting SERVING only once ready."""
    configure_logging(
        spec.name, log_format=settings.log_format, level=settings.log_level
    )
    configure_tracing(spec.name)
    server = grpc_server.create_server(
        settings.internal_token_secret.get_secret_value(),
        settings.grpc_max_message_bytes,
    )
    pool = await prepare_database(spec, settings)
    names = await spec.register(server, pool)
    health = grpc_server.add_health_and_reflection(server, names)
    tls = settings.tls_files()
    if tls is None:
        port = server.add_insecure_port(spec.listen_address)
    else:
        port = server.add_secure_port(spec.listen_address, tls.server_credentials())
    await server.start()
    probes = None
    if settings.health_port:
        probes = await grpc_server.start_probe_server(health, settings.health_port)
    await grpc_server.set_serving(health, names, serving=True)
    log.info(
        "server.started", address=spec.listen_address, port=port, tls=tls is not None
    )
    watcher = asyncio.create_task(_watch_health(spec, pool, health, names))
    try:
        await grpc_server.wait_for_termination(server, settings.shutdown_grace_seconds)
    finally:
        watcher.cancel()
        if probes is not None:
            await probes.stop(None)
        for stop in spec.on_shutdown:
            await stop()
        await pool.close()
        log.info("server.stopped")


async def database_ready(spec: ServiceSpec, pool: asyncpg.Pool) -> bool:
    """Return True when a pooled connection works and the migrations are current."""
    try:
        async with pool.acquire(timeout=HEALTH_INTERVAL_SECONDS) as conn:
            return await migrations_current(conn, spec.schema, spec.migrations_dir)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return False


async def _watch_health(
    spec: ServiceSpec, pool: asyncpg.Pool, health: object, names: Sequence[str]
) -> None:
    """Keep the health status in step with the database: SERVING only while it works."""
    serving = True
    while True:
        await asyncio.sleep(HEALTH_INTERVAL_SECONDS)
        ready = await database_ready(spec, pool)
        if ready != serving:
            log.warning("health.changed", serving=ready)
            await grpc_server.set_serving(health, names, serving=ready)
            serving = ready
