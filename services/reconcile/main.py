"""Entry point of the reconcile service: wiring only."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import grpc

from gen.reconcile.v1 import reconcile_pb2, reconcile_pb2_grpc
from services.common.audit_client import AuditClient
from services.common.grpc_client import create_channel
from services.common.metrics import install_metrics
from services.common.runtime import ServiceSpec, run_service
from services.common.scheduler import Scheduler
from services.common.scheduler_api import install_scheduler
from services.reconcile import metrics as reconcile_metrics
from services.reconcile.connectors_client import ConnectorsClient
from services.reconcile.grpc_api import ReconcileServicer
from services.reconcile.jobs import ReconcileJobs
from services.reconcile.repair import Repairer
from services.reconcile.runs import Limits, Reconciler
from services.reconcile.settings import ReconcileSettings

SERVICE_NAME = reconcile_pb2.DESCRIPTOR.services_by_name["ReconcileService"].full_name


def build_reconciler(
    pool: asyncpg.Pool,
    settings: ReconcileSettings,
    connectors_channel: grpc.aio.Channel,
    auth_channel: grpc.aio.Channel,
) -> Reconciler:
    secret = settings.internal_token_secret.get_secret_value()
    connectors = ConnectorsClient(
        connectors_channel,
        secret,
        rpc_timeout=settings.rpc_timeout_seconds,
        list_timeout=settings.list_timeout_seconds,
    )
    limits = Limits(
        sample_size=settings.sample_size,
        repair_max_ids=settings.repair_max_ids,
        warning_threshold=settings.warning_threshold,
    )
    return Reconciler(
        pool,
        connectors,
        Repairer(connectors, settings.repair_wait_seconds),
        AuditClient(auth_channel, secret, settings.rpc_timeout_seconds),
        limits,
    )


def build_spec(settings: ReconcileSettings) -> ServiceSpec:
    async def register(server: grpc.aio.Server, pool: asyncpg.Pool) -> Sequence[str]:
        size = settings.grpc_max_message_bytes
        tls = settings.tls_files()
        connectors = create_channel(settings.connectors_address, size, tls)
        auth = create_channel(settings.auth_address, size, tls)
        reconciler = build_reconciler(pool, settings, connectors, auth)
        servicer = ReconcileServicer(
            pool,
            reconciler,
            threshold=settings.warning_threshold,
            trend_days=settings.trend_days,
        )
        reconcile_pb2_grpc.add_ReconcileServiceServicer_to_server(servicer, server)
        jobs = ReconcileJobs(reconciler, interval_seconds=settings.interval_seconds)
        jobs.scheduler = Scheduler(pool, "reconcile", jobs.handlers())
        scheduler_name = await install_scheduler(
            server,
            spec.on_shutdown,
            jobs.scheduler,
            service="reconcile",
            ensure_project=jobs.ensure_project,
            service_wide={},
        )

        async def stop() -> None:
            await connectors.close()
            await auth.close()

        spec.on_shutdown.append(stop)
        metrics_name = install_metrics(
            server, reconcile_metrics.gather_for(pool), settings.metrics_port
        )
        return [SERVICE_NAME, scheduler_name, metrics_name]

    spec = ServiceSpec(
        name="reconcile",
        schema="reconcile",
        migrations_dir=Path(__file__).parent / "migrations",
        register=register,
        listen_address=settings.listen_address,
    )
    return spec


def main() -> None:
    settings = ReconcileSettings()
    asyncio.run(run_service(build_spec(settings), settings))


if __name__ == "__main__":
    main()
