"""gRPC client plumbing shared by the gateway and by services that call each other."""

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from services.common.grpc_server import message_size_options
from services.common.internal_auth import Principal, issue_token


def create_channel(target: str, max_message_bytes: int) -> grpc.aio.Channel:
    """Open an insecure channel with tracing and the same message limits as servers.

    The channel spreads calls over every address the target resolves to (a
    list such as `ipv4:127.0.0.1:50051,127.0.0.1:50061`, or a DNS name with
    several records), skipping replicas that are down.
    """
    return grpc.aio.insecure_channel(
        target,
        options=[
            *message_size_options(max_message_bytes),
            ("grpc.lb_policy_name", "round_robin"),
        ],
        interceptors=aio_client_interceptors(),
    )


def call_metadata(principal: Principal, secret: str) -> tuple[tuple[str, str], ...]:
    """Return the metadata that authenticates one call as principal."""
    return (("authorization", f"Bearer {issue_token(principal, secret)}"),)
