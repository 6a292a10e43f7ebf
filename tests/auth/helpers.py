"""Shared pieces of the auth tests: metadata, error reasons and seeded users."""

import asyncpg
import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from services.auth import passwords, repository
from services.common.grpc_client import call_metadata
from services.common.internal_auth import Principal, service_principal

TOKEN_SECRET = "test-internal-token-secret-of-32-bytes-or-more"
CSRF_SECRET = "test-csrf-secret-of-32-bytes-or-more"
IDLE_SECONDS = 3600
ABSOLUTE_SECONDS = 24 * 3600


def service_metadata() -> tuple[tuple[str, str], ...]:
    """Metadata of a call the gateway makes as itself."""
    return call_metadata(service_principal("gateway"), TOKEN_SECRET)


def user_metadata(user_id: str) -> tuple[tuple[str, str], ...]:
    """Metadata of a call the gateway makes on behalf of user_id."""
    principal = Principal(subject=user_id, kind="user")
    return call_metadata(principal, TOKEN_SECRET)


def error_reason(error: grpc.aio.AioRpcError) -> str:
    """Return the ErrorInfo reason the server put into the status details."""
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if isinstance(detail, any_pb2.Any) and detail.Unpack(info):
                return str(info.reason)
    raise AssertionError(f"no ErrorInfo in the status of {error!r}")


async def create_user(
    pool: asyncpg.Pool, username: str, password: str
) -> repository.User:
    """Insert a user whose password is hashed the way the service hashes it."""
    password_hash = await passwords.hash_password(password)
    async with pool.acquire() as conn:
        return await repository.insert_user(conn, username, password_hash)


async def audit_rows(pool: asyncpg.Pool, action: str) -> list[asyncpg.Record]:
    """Return the audit events of one action, oldest first."""
    return await pool.fetch(
        "SELECT * FROM auth.audit_events WHERE action = $1 ORDER BY id", action
    )
