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
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import audit_trail, errors, metrics, security
from gateway import clients as service_clients
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
    app.middleware("http")(_edge_middleware(settings))
    FastAPIInstrumentor.instrument_app(app, excluded_urls="/metrics")
    return app


class StrictCORSMiddleware(CORSMiddleware):
    """CORS that sends a rejected origin no CORS headers, credentials included."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        rejected = not self.is_allowed_origin(origin=request_headers["origin"])
        if rejected and "access-control-allow-credentials" in response.headers:
            del response.headers["access-control-allow-credentials"]
        return response


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
    limit = settings.max_request_body_bytes
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        return _too_large(request, f"request body is {length} bytes", limit)
    if not length and not await _read_body_within(request, limit):
        return _too_large(request, "request body is over the limit", limit)
    return await call_next(request)


async def _read_body_within(request: Request, limit: int) -> bool:
    """Read a body sent without Content-Length, stopping once it passes limit.

    A chunked body has no length to check up front, so it is read here and
    kept for the route. The route then never reads past the limit.
    """
    chunks = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            return False
        chunks.append(chunk)
    # Starlette keeps a read body here and hands it to the route.
    request._body = b"".join(chunks)
    return True


def _too_large(request: Request, what: str, limit: int) -> JSONResponse:
    return JSONResponse(
        errors.error_body(
            request, "request_too_large", f"{what}; the limit is {limit} bytes"
        ),
        status_code=413,
    )


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
