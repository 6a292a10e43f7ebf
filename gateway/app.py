"""The REST gateway: the runbook's contract turned into gRPC calls."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import audit_trail, errors, security
from gateway import clients as service_clients
from gateway.edge import SECURITY_HEADERS as SECURITY_HEADERS
from gateway.edge import EdgeMiddleware
from gateway.routes import (
    audit,
    auth,
    connector_errors,
    connectors,
    crm,
    jobs,
    lightrag,
    ops,
    projects,
    reconciliation,
)
from gateway.settings import GatewaySettings


def create_app(
    settings: GatewaySettings, clients: service_clients.ServiceClients | None = None
) -> FastAPI:
    """Build the FastAPI app; `clients` lets tests pass channels of their own."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.clients = clients or service_clients.connect(settings)
        yield
        await app.state.clients.close()

    app = FastAPI(title="opsdesk gateway", version="1", lifespan=lifespan)
    app.state.settings = settings
    for prefix in ("", "/v1"):
        for module in (
            ops,
            auth,
            projects,
            audit,
            jobs,
            connectors,
            connector_errors,
            crm,
            reconciliation,
            lightrag,
        ):
            app.include_router(module.router, prefix=prefix)
    app.add_exception_handler(grpc.aio.AioRpcError, errors.handle_rpc_error)  # type: ignore[arg-type]
    app.add_exception_handler(errors.ApiError, errors.handle_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, errors.handle_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, errors.handle_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, errors.handle_unexpected)
    app.dependency_overrides[security.current_session] = audit_trail.session_for_audit
    # Middleware added later runs outside. CORS runs inside the edge, so that
    # preflight responses get the security headers too, and the audit trail
    # runs innermost.
    app.add_middleware(audit_trail.AuditTrailMiddleware)
    app.add_middleware(
        StrictCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["content-type", "x-csrf-token", "x-request-id"],
        expose_headers=["x-request-id", "x-trace-id"],
    )
    app.add_middleware(EdgeMiddleware, settings=settings)
    # One server span per request. The ASGI "http send" and "http receive"
    # child spans carry nothing that the server span lacks, and they took about
    # 30% of the CPU time of a GET /health/live (measured in-process, 2 cores).
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="/metrics", exclude_spans=["receive", "send"]
    )
    return app


class StrictCORSMiddleware(CORSMiddleware):
    """CORS that sends a rejected origin no CORS headers, credentials included."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        rejected = not self.is_allowed_origin(origin=request_headers["origin"])
        if rejected and "access-control-allow-credentials" in response.headers:
            del response.headers["access-control-allow-credentials"]
        return response
