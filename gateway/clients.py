"""gRPC channels and stubs of the services the gateway calls."""

from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2_grpc

from gateway.settings import GatewaySettings
from gen.auth.v1 import auth_pb2_grpc
from gen.connectors.v1 import connectors_pb2_grpc
from gen.metrics.v1 import metrics_pb2_grpc
from gen.rag.v1 import rag_pb2_grpc
from gen.reconcile.v1 import reconcile_pb2_grpc
from gen.scheduler.v1 import scheduler_pb2_grpc
from services.common.grpc_client import create_channel


@dataclass
class ServiceClients:
    """One channel per service, shared by every request of this process."""

    channels: dict[str, grpc.aio.Channel]
    auth: auth_pb2_grpc.AuthServiceStub
    connectors: connectors_pb2_grpc.ConnectorsServiceStub
    rag: rag_pb2_grpc.RagServiceStub
    reconcile: reconcile_pb2_grpc.ReconcileServiceStub
    health: dict[str, health_pb2_grpc.HealthStub]
    schedulers: dict[str, scheduler_pb2_grpc.SchedulerServiceStub]
    metrics: dict[str, metrics_pb2_grpc.MetricsServiceStub]

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()


def connect(settings: GatewaySettings) -> ServiceClients:
    """Open channels to every service; connections are made lazily on first call."""
    addresses = {
        "auth": settings.auth_address,
        "connectors": settings.connectors_address,
        "rag": settings.rag_address,
        "reconcile": settings.reconcile_address,
    }
    tls = settings.tls_files()
    channels = {
        name: create_channel(address, settings.grpc_max_message_bytes, tls)
        for name, address in addresses.items()
    }
    return ServiceClients(
        channels=channels,
        auth=auth_pb2_grpc.AuthServiceStub(channels["auth"]),
        connectors=connectors_pb2_grpc.ConnectorsServiceStub(channels["connectors"]),
        rag=rag_pb2_grpc.RagServiceStub(channels["rag"]),
        reconcile=reconcile_pb2_grpc.ReconcileServiceStub(channels["reconcile"]),
        health={name: health_pb2_grpc.HealthStub(ch) for name, ch in channels.items()},
        schedulers={
            name: scheduler_pb2_grpc.SchedulerServiceStub(ch)
            for name, ch in channels.items()
        },
        metrics={
            name: metrics_pb2_grpc.MetricsServiceStub(ch)
            for name, ch in channels.items()
        },
    )
