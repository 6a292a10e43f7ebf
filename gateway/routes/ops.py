"""Health, liveness, readiness and metrics endpoints; all are public."""

import asyncio
from typing import Any

import grpc
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2

from gateway import metrics
from gateway.routes.common import clients_of
from gateway.security import gateway_metadata
from gen.metrics.v1 import metrics_pb2

router = APIRouter(tags=["operations"])

HEALTH_TIMEOUT_SECONDS = 2.0


async def check_service(name: str, stub: Any) -> dict[str, str]:
    """Ask one service's standard health service; SERVING includes its database."""
    try:
        reply = await stub.Check(
            health_pb2.HealthCheckRequest(), timeout=HEALTH_TIMEOUT_SECONDS
        )
    except grpc.aio.AioRpcError as exc:
        return {"status": "down", "error": f"{exc.code().name}: {exc.details()}"}
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return {"status": "up" if status == "SERVING" else "down", "grpc_status": status}


async def check_services(request: Request) -> dict[str, dict[str, str]]:
    """Check every service at once and return each one's result by name."""
    stubs = clients_of(request).health
    results = await asyncio.gather(
        *(check_service(name, stub) for name, stub in stubs.items())
    )
    return dict(zip(stubs, results, strict=True))


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """Report each service (and through it the database); 503 when a part is down."""
    parts = await check_services(request)
    services_up = all(part["status"] == "up" for part in parts.values())
    parts["database"] = {
        "status": "up" if services_up else "unknown",
        "checked_by": "each service reports SERVING only with a working pool",
    }
    status = "ok" if services_up else "degraded"
    return JSONResponse(
        {"status": status, "parts": parts}, status_code=200 if services_up else 503
    )


@router.get("/health/live")
async def health_live() -> dict[str, str]:
    """Return 200 whenever this process serves HTTP, without calling a service."""
    return {"status": "ok"}


@router.get("/health/ready")
async def health_ready(request: Request) -> JSONResponse:
    """Return 200 only when every service reports SERVING, else 503 with the others."""
    parts = await check_services(request)
    not_ready = {name: part for name, part in parts.items() if part["status"] != "up"}
    if not_ready:
        return JSONResponse(
            {"status": "not_ready", "not_ready": not_ready}, status_code=503
        )
    return JSONResponse({"status": "ready", "parts": parts})


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    """Expose the gateway's metrics followed by every service's figures."""
    body, content_type = metrics.render()
    stubs = clients_of(request).metrics
    metadata = gateway_metadata(request)
    replies = await asyncio.gather(
        *(
            stub.Export(
                metrics_pb2.ExportRequest(),
                metadata=metadata,
                timeout=HEALTH_TIMEOUT_SECONDS,
            )
            for stub in stubs.values()
        ),
        return_exceptions=True,
    )
    parts = [body.decode()]
    up = [
        "# HELP gateway_service_metrics_up Whether a service's figures were read.",
        "# TYPE gateway_service_metrics_up gauge",
    ]
    for name, reply in zip(stubs, replies, strict=True):
        read = isinstance(reply, metrics_pb2.ExportResponse)
        up.append(f'gateway_service_metrics_up{{service="{name}"}} {int(read)}')
        if isinstance(reply, metrics_pb2.ExportResponse):
            parts.append(reply.text)
    parts.append("\n".join(up) + "\n")
    return Response("".join(parts), media_type=content_type)
