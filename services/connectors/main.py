"""Entry point of the connectors service: wiring only."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import grpc

from gen.connectors.v1 import connectors_pb2, connectors_pb2_grpc
from services.common.runtime import ServiceSpec, run_service
from services.connectors.grpc_api import ConnectorsServicer
from services.connectors.retry_loop import run_retry_loop
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings

SERVICE_NAME = connectors_pb2.DESCRIPTOR.services_by_name["ConnectorsService"].full_name


def build_spec(settings: ConnectorsSettings) -> ServiceSpec:
    async def register(server: grpc.aio.Server, pool: asyncpg.Pool) -> Sequence[str]:
        runner = SyncRunner(
            pool,
            lease_seconds=settings.lease_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
        )
        await runner.abandon_orphans()
        servicer = ConnectorsServicer(pool, runner, settings)
        connectors_pb2_grpc.add_ConnectorsServiceServicer_to_server(servicer, server)
        retries = asyncio.create_task(
            run_retry_loop(
                pool,
                runner,
                servicer.bodies,
                settings.error_retry_interval_seconds,
            )
        )

        async def stop() -> None:
            retries.cancel()
            await runner.stop()

        spec.on_shutdown.append(stop)
        return [SERVICE_NAME]

    spec = ServiceSpec(
        name="connectors",
        schema="connectors",
        migrations_dir=Path(__file__).parent / "migrations",
        register=register,
        listen_address=settings.listen_address,
    )
    return spec


def main() -> None:
    settings = ConnectorsSettings()
    asyncio.run(run_service(build_spec(settings), settings))


if __name__ == "__main__":
    main()
