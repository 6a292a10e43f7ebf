"""gRPC client plumbing shared by the gateway and by services that call each other."""

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.common.grpc_server import message_size_options
from services.common.internal_auth import Principal, issue_token
from services.common.tls import TlsFiles


def create_channel(
    target: str, max_message_bytes: int, tls: TlsFiles | None = None
) -> grpc.aio.Channel:
    """Open an insecure channel with tracing and the same message limits as servers.

    The channel spreads calls over every address the target resolves to (a
    list such as `ipv4:127.0.0.1:50051,127.0.0.1:50061`, or a DNS name with
    several records), skipping replicas that are down. With tls, the channel
    uses mutual TLS.
    """
    options = [
        *message_size_options(max_message_bytes),
        ("grpc.lb_policy_name", "round_robin"),
    ]
    interceptors = aio_client_interceptors()
    if tls is None:
        return grpc.aio.insecure_channel(
            target, options=options, interceptors=interceptors
        )
    return grpc.aio.secure_channel(
        target, tls.channel_credentials(), options=options, interceptors=interceptors
    )


def call_metadata(principal: Principal, secret: str) -> tuple[tuple[str, str], ...]:
    """Return the metadata that authenticates one call as principal."""
    return (("authorization", f"Bearer {issue_token(principal, secret)}"),)
