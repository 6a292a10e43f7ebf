"""The REST gateway: the runbook's contract turned into gRPC calls."""

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import grpc
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import clients as service_clients
from gateway import errors, metrics
from gateway.routes import (
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
from services.common.telemetry import current_trace_id

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
REQUEST_ID_MAX_LENGTH = 64


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
    app.middleware("http")(_edge_middleware(settings))
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["content-type", "x-csrf-token", "x-request-id"],
        expose_headers=["x-request-id", "x-trace-id"],
    )
    FastAPIInstrumentor.instrument_app(app, excluded_urls="/metrics")
    return app


def _is_legacy_path(path: str) -> bool:
    path = path.removeprefix("/v1")
    return path == "/kag" or path.startswith("/kag/")


def _request_id(request: Request) -> str:
    header_value = request.headers.get("x-request-id", "")
    if (
        header_value
        and len(header_value) <= REQUEST_ID_MAX_LENGTH
        and header_value.replace("-", "").isalnum()
    ):
        return header_value
    return str(uuid.uuid4())


Handler = Callable[[Request], Awaitable[Response]]


def _edge_middleware(
    settings: GatewaySettings,
) -> Callable[[Request, Handler], Awaitable[Response]]:
    async def edge(request: Request, call_next: Handler) -> Response:
        request.state.request_id = _request_id(request)
        started = time.perf_counter()
        response = await _guarded(request, call_next, settings)
        _finish(request, response, settings, started)
        return response

    return edge


async def _guarded(
    request: Request, call_next: Handler, settings: GatewaySettings
) -> Response:
    """Reject legacy paths and oversized bodies before any route or authentication."""
    if _is_legacy_path(request.url.path):
        if settings.lightrag_only:
            return JSONResponse(
                errors.error_body(
                    request,
                    "kag_disabled",
                    "legacy /kag routes are disabled (LIGHTRAG_ONLY=1);"
                    " use /lightrag/query",
                ),
                status_code=410,
            )
        return JSONResponse(
            errors.error_body(request, "not_found", "not found"), status_code=404
        )
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.max_request_body_bytes:
        return JSONResponse(
            errors.error_body(
                request,
                "request_too_large",
                f"request body is {length} bytes;"
                f" the limit is {settings.max_request_body_bytes}",
            ),
            status_code=413,
        )
    return await call_next(request)


def _finish(
    request: Request, response: Response, settings: GatewaySettings, started: float
) -> None:
    response.headers["x-request-id"] = request.state.request_id
    trace_id = current_trace_id()
    if trace_id:
        response.headers["x-trace-id"] = trace_id
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if settings.secure_cookies:
        response.headers["Strict-Transport-Security"] = (
            "max-age=31536000; includeSubDomains"
        )
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    metrics.HTTP_REQUESTS.labels(
        request.method, template, str(response.status_code)
    ).inc()
    metrics.HTTP_SECONDS.labels(request.method, template).observe(
        time.perf_counter() - started
    )
    grpc_code = getattr(request.state, "grpc_code", None)
    if grpc_code:
        metrics.RPC_ERRORS.labels(grpc_code, str(response.status_code)).inc()
