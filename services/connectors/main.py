"""Entry point of the connectors service: wiring only."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import grpc

from gen.connectors.v1 import connectors_pb2, connectors_pb2_grpc
from services.common.grpc_client import create_channel
from services.common.metrics import install_metrics
from services.common.runtime import ServiceSpec, run_service
from services.common.scheduler import Scheduler
from services.common.scheduler_api import install_scheduler
from services.connectors import metrics as connectors_metrics
from services.connectors.grpc_api import ConnectorsServicer
from services.connectors.jobs import RETRY_JOB, ConnectorJobs, SyncTriggers
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings

SERVICE_NAME = connectors_pb2.DESCRIPTOR.services_by_name["ConnectorsService"].full_name


def build_spec(settings: ConnectorsSettings) -> ServiceSpec:
    async def register(server: grpc.aio.Server, pool: asyncpg.Pool) -> Sequence[str]:
        size = settings.grpc_max_message_bytes
        tls = settings.tls_files()
        rag = create_channel(settings.rag_address, size, tls)
        reconcile = create_channel(settings.reconcile_address, size, tls)
        secret = settings.internal_token_secret.get_secret_value()
        trigger = SyncTriggers(rag, reconcile, secret, settings.rpc_timeout_seconds)
        runner = SyncRunner(
            pool,
            lease_seconds=settings.lease_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
            on_success=trigger.after_sync,
        )
        await runner.abandon_orphans()
        servicer = ConnectorsServicer(pool, runner, settings)
        jobs = ConnectorJobs(pool, runner, servicer.bodies, settings)
        jobs.scheduler = Scheduler(
            pool,
            "connectors",
            jobs.handlers(),
            lease_seconds=settings.lease_seconds,
            heartbeat_seconds=settings.heartbeat_seconds,
        )
        servicer.ensure_project = jobs.ensure_project
        connectors_pb2_grpc.add_ConnectorsServiceServicer_to_server(servicer, server)
        scheduler_name = await install_scheduler(
            server,
            spec.on_shutdown,
            jobs.scheduler,
            service="connectors",
            ensure_project=jobs.ensure_project,
            service_wide={RETRY_JOB: settings.error_retry_interval_seconds},
        )

        async def stop() -> None:
            await runner.stop()
            await rag.close()
            await reconcile.close()

        spec.on_shutdown.append(stop)
        metrics_name = install_metrics(
            server, connectors_metrics.gather_for(pool), settings.metrics_port
        )
        return [SERVICE_NAME, scheduler_name, metrics_name]

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
