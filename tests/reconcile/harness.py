"""The connectors, auth and reconcile servicers on loopback ports, for one project.

The Attio fake runs in a thread over real HTTP; the three services are the
real servicers behind the real interceptor, and the caller is an admin of one
project holding a signed internal token.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from gen.auth.v1 import auth_pb2_grpc
from gen.connectors.v1 import connectors_pb2 as pb
from gen.connectors.v1 import connectors_pb2_grpc
from gen.reconcile.v1 import reconcile_pb2_grpc
from services.auth.grpc_api import AuthServicer
from services.auth.sessions import SessionConfig
from services.common.grpc_client import call_metadata, create_channel
from services.common.grpc_server import create_server
from services.common.internal_auth import Principal
from services.common.migrations import apply_migrations
from services.connectors.grpc_api import ConnectorsServicer
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings
from services.reconcile.grpc_api import ReconcileServicer
from services.reconcile.main import build_reconciler
from services.reconcile.runs import Reconciler
from services.reconcile.settings import ReconcileSettings

SERVICES = Path(__file__).resolve().parents[2] / "services"
SECRET = "reconcile-test-secret-of-enough-length"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
PROJECT = "00000000-0000-0000-0000-0000000000e5"
USER = "00000000-0000-0000-0000-0000000000f1"
SYNC_WAIT_SECONDS = 60.0


@dataclass
class Services:
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub
    connectors: connectors_pb2_grpc.ConnectorsServiceStub
    pools: dict[str, asyncpg.Pool]
    reconciler: Reconciler

    def metadata(
        self, role: str = "admin", project_id: str = PROJECT
    ) -> tuple[tuple[str, str], ...]:
        caller = Principal(subject=USER, kind="user", role=role, project_id=project_id)
        return call_metadata(caller, SECRET)


async def open_pool(dsn: str, schema: str) -> asyncpg.Pool:
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, schema, SERVICES / schema / "migrations")
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=6)
    assert pool is not None
    return pool


async def _serve(stack: AsyncExitStack, add: object, servicer: object) -> str:
    server = create_server(SECRET, MAX_MESSAGE_BYTES)
    add(servicer, server)  # type: ignore[operator]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stack.push_async_callback(server.stop, None)
    return f"127.0.0.1:{port}"


@asynccontextmanager
async def serve(
    dsn: str, sources: dict[str, str], **reconcile: object
) -> AsyncIterator[Services]:
    """Serve the three services; sources are the connectors' source settings."""
    async with AsyncExitStack() as stack:
        pools = {}
        for schema in ("auth", "connectors", "reconcile"):
            pools[schema] = await open_pool(dsn, schema)
            stack.push_async_callback(pools[schema].close)
        settings = ConnectorsSettings.model_validate(
            {
                "http_backoff_base_seconds": 0.01,
                "INTERNAL_TOKEN_SECRET": SECRET,
                **sources,
            }
        )
        runner = SyncRunner(pools["connectors"], lease_seconds=30, heartbeat_seconds=5)
        stack.push_async_callback(runner.stop)
        connectors = await _serve(
            stack,
            connectors_pb2_grpc.add_ConnectorsServiceServicer_to_server,
            ConnectorsServicer(pools["connectors"], runner, settings),
        )
        auth = await _serve(
            stack,
            auth_pb2_grpc.add_AuthServiceServicer_to_server,
            AuthServicer(
                pools["auth"],
                SessionConfig(
                    idle_seconds=3600,
                    absolute_seconds=86400,
                    csrf_secret="reconcile-test-csrf-secret-32-bytes",
                ),
            ),
        )
        channels = [
            create_channel(connectors, MAX_MESSAGE_BYTES),
            create_channel(auth, MAX_MESSAGE_BYTES),
        ]
        for channel in channels:
            stack.push_async_callback(channel.close)
        reconcile_settings = ReconcileSettings.model_validate(
            {"INTERNAL_TOKEN_SECRET": SECRET, **reconcile}
        )
        reconciler = build_reconciler(
            pools["reconcile"], reconcile_settings, channels[0], channels[1]
        )
        address = await _serve(
            stack,
            reconcile_pb2_grpc.add_ReconcileServiceServicer_to_server,
            ReconcileServicer(
                pools["reconcile"],
                reconciler,
                threshold=reconcile_settings.warning_threshold,
                trend_days=reconcile_settings.trend_days,
            ),
        )
        channel = create_channel(address, MAX_MESSAGE_BYTES)
        stack.push_async_callback(channel.close)
        yield Services(
            reconcile_pb2_grpc.ReconcileServiceStub(channel),
            connectors_pb2_grpc.ConnectorsServiceStub(channels[0]),
            pools,
            reconciler,
        )


MODES = {"full": pb.SYNC_MODE_FULL, "incremental": pb.SYNC_MODE_INCREMENTAL}


async def run_sync(
    services: Services, connector: str, mode: str = "full"
) -> pb.SyncRun:
    """Start a sync through the connectors service and wait for it to end."""
    run: pb.SyncRun = await services.connectors.StartSync(
        pb.StartSyncRequest(connector=connector, mode=MODES[mode]),
        metadata=services.metadata(),
    )
    deadline = asyncio.get_running_loop().time() + SYNC_WAIT_SECONDS
    while run.status == "running":
        assert asyncio.get_running_loop().time() < deadline, "sync did not end"
        await asyncio.sleep(0.1)
        run = await services.connectors.GetSyncRun(
            pb.GetSyncRunRequest(run_id=run.id), metadata=services.metadata()
        )
    assert run.status == "succeeded", run.error
    return run
