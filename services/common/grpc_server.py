"""gRPC server plumbing: internal tokens, domain-error mapping, health, shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import grpc
import structlog
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from services.common import errors
from services.common.internal_auth import set_principal, verify_token

log = structlog.get_logger(__name__)

ERROR_DOMAIN = "opsdesk"
STATUS_BY_ERROR: list[tuple[type[errors.DomainError], grpc.StatusCode]] = [
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Aborted, grpc.StatusCode.ABORTED),
    (errors.NotAuthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.AccessDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.RateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
]
# Methods any caller may use without an internal token.
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def status_for(error: errors.DomainError) -> grpc.StatusCode:
    """Return the gRPC status code for a domain error by its kind."""
    for kind, code in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


def rich_status_metadata(
    code: grpc.StatusCode,
    message: str,
    reason: str,
    retry_after_seconds: int | None = None,
) -> tuple[Any, ...]:
    """Build the `grpc-status-details-bin` trailer: an ErrorInfo reason, and a
    RetryInfo when the caller must wait before trying again."""
    status = status_pb2.Status(code=code.value[0], message=message)
    status.details.add().Pack(
        error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    )
    if retry_after_seconds is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(retry_after_seconds)
        status.details.add().Pack(retry)
    return (("grpc-status-details-bin", status.SerializeToString()),)


class InternalCallInterceptor(grpc.aio.ServerInterceptor):
    """Verify the caller's internal token and turn domain errors into rich statuses."""

    def __init__(self, token_secret: str) -> None:
        self._secret = token_secret

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method
        public = method.startswith(PUBLIC_METHOD_PREFIXES)
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, public),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method, public),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if public:
            return handler
        # No service takes a request stream; refuse one rather than let it
        # through unchecked.
        return grpc.stream_unary_rpc_method_handler(_refuse_request_stream)

    def _authenticate(
        self, context: grpc.aio.ServicerContext[Any, Any], public: bool
    ) -> bool:
        """Verify the caller and make it current; return whether one was set."""
        if public:
            return False
        principal = verify_token(_bearer(context), self._secret)
        set_principal(principal)
        structlog.contextvars.bind_contextvars(request_id=principal.request_id)
        return True

    def _wrap_unary(self, inner: Any, method: str, public: bool) -> Any:
        async def behavior(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            authenticated = False
            try:
                authenticated = self._authenticate(context, public)
                return await inner(request, context)
            except Exception as exc:
                await _fail(context, exc, method)
            finally:
                _forget(authenticated)

        return behavior

    def _wrap_stream(self, inner: Any, method: str, public: bool) -> Any:
        async def behavior(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            authenticated = False
            try:
                authenticated = self._authenticate(context, public)
                async for response in inner(request, context):
                    yield response
            except Exception as exc:
                await _fail(context, exc, method)
            finally:
                _forget(authenticated)

        return behavior


async def _fail(
    context: grpc.aio.ServicerContext[Any, Any], exc: Exception, method: str
) -> None:
    """End a failed call with the status its error maps to."""
    if isinstance(exc, grpc.aio.AbortError):
        # The handler ended the call itself.
        raise exc
    if isinstance(exc, errors.DomainError):
        await _abort_with(context, exc, method)
    else:
        log.error("grpc.unexpected_error", method=method, exc_info=exc)
        await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def _forget(authenticated: bool) -> None:
    if authenticated:
        set_principal(None)
    structlog.contextvars.unbind_contextvars("request_id")


async def _refuse_request_stream(
    requests: Any, context: grpc.aio.ServicerContext[Any, Any]
) -> Any:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "request streams are not served")


async def _abort_with(
    context: grpc.aio.ServicerContext[Any, Any], exc: errors.DomainError, method: str
) -> None:
    code = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("grpc.domain_error_unmapped", method=method, code=exc.code)
    retry_after = getattr(exc, "retry_after_seconds", None)
    await context.abort(
        code,
        exc.message,
        trailing_metadata=rich_status_metadata(
            code, exc.message, exc.code, retry_after
        ),
    )


def _bearer(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    for key, value in context.invocation_metadata() or ():
        if (
            key == "authorization"
            and isinstance(value, str)
            and value.startswith("Bearer ")
        ):
            return value.removeprefix("Bearer ")
    raise errors.NotAuthenticated("missing internal token", code="token_missing")


def message_size_options(max_bytes: int) -> list[tuple[str, int]]:
    """Return channel/server options that raise both message limits to max_bytes."""
    return [
        ("grpc.max_send_message_length", max_bytes),
        ("grpc.max_receive_message_length", max_bytes),
    ]


def create_server(token_secret: str, max_message_bytes: int) -> grpc.aio.Server:
    """Build a grpc.aio server with tracing and the internal-call interceptor."""
    return grpc.aio.server(
        interceptors=[aio_server_interceptor(), InternalCallInterceptor(token_secret)],
        options=message_size_options(max_message_bytes),
    )


def add_health_and_reflection(
    server: grpc.aio.Server, service_names: Sequence[str]
) -> health.HealthServicer:
    """Register the standard health and reflection services; all start NOT_SERVING."""
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*service_names, health.SERVICE_NAME], server)
    return health_servicer


async def start_probe_server(
    health_servicer: health.HealthServicer, port: int
) -> grpc.aio.Server:
    """Serve the health service alone, without TLS or tokens, on port."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    server.add_insecure_port(f"0.0.0.0:{port}")
    await server.start()
    return server


async def set_serving(
    health_servicer: Any, service_names: Sequence[str], serving: bool
) -> None:
    """Report every name, and the server as a whole (""), as serving or not."""
    status = (
        health_pb2.HealthCheckResponse.SERVING
        if serving
        else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ["", *service_names]:
        await health_servicer.set(name, status)


async def wait_for_termination(server: grpc.aio.Server, grace_seconds: float) -> None:
    """Serve until SIGTERM or SIGINT, then stop, giving running calls a grace period."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("server.stopping", grace_seconds=grace_seconds)
    await server.stop(grace_seconds)
