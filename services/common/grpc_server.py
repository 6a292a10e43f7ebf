"""gRPC server plumbing: internal tokens, domain-error mapping, health, shutdown."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
import structlog
from google.protobuf import any_pb2
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
    code: grpc.StatusCode, message: str, reason: str
) -> tuple[Any, ...]:
    """Build the `grpc-status-details-bin` trailer carrying an ErrorInfo reason."""
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=message, details=[detail])
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
        if handler is None or handler.unary_unary is None:
            return handler
        public = details.method.startswith(PUBLIC_METHOD_PREFIXES)
        behavior = self._wrap(handler.unary_unary, details.method, public)
        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, inner: Any, method: str, public: bool) -> Any:
        async def behavior(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> Any:
            token = None
            try:
                if not public:
                    principal = verify_token(_bearer(context), self._secret)
                    token = set_principal(principal)
                    structlog.contextvars.bind_contextvars(
                        request_id=principal.request_id
                    )
                return await inner(request, context)
            except errors.DomainError as exc:
                await _abort_with(context, exc, method)
            except Exception:
                log.exception("grpc.unexpected_error", method=method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                if token is not None:
                    set_principal(None)
                structlog.contextvars.unbind_contextvars("request_id")

        return behavior


async def _abort_with(
    context: grpc.aio.ServicerContext[Any, Any], exc: errors.DomainError, method: str
) -> None:
    code = status_for(exc)
    if code is grpc.StatusCode.INTERNAL:
        log.error("grpc.domain_error_unmapped", method=method, code=exc.code)
    await context.abort(
        code,
        exc.message,
        trailing_metadata=rich_status_metadata(code, exc.message, exc.code),
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
