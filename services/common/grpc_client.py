"""gRPC client plumbing shared by the gateway and by services that call each other."""

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.common.grpc_server import message_size_options
from services.common.internal_auth import Principal, issue_token


def create_channel(target: str, max_message_bytes: int) -> grpc.aio.Channel:
    """Open an insecure channel with tracing and the same message limits as servers."""
    return grpc.aio.insecure_channel(
        target,
        options=message_size_options(max_message_bytes),
        interceptors=aio_client_interceptors(),
    )


def call_metadata(principal: Principal, secret: str) -> tuple[tuple[str, str], ...]:
    """Return the metadata that authenticates one call as principal."""
    return (("authorization", f"Bearer {issue_token(principal, secret)}"),)
