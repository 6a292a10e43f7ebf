"""Errors of the REST contract: gRPC status to HTTP, and one JSON error body."""

import grpc
import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.telemetry import current_trace_id

log = structlog.get_logger(__name__)

# The closest HTTP status for each gRPC code, after google/rpc/code.proto.
HTTP_STATUS_BY_GRPC = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# Reasons whose HTTP status differs from their gRPC code's usual mapping.
HTTP_STATUS_BY_REASON = {"active_project_required": 409}


class ApiError(Exception):
    """An error the gateway returns itself, with an HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(
    request: Request, code: str, message: str, **extra: str
) -> dict[str, object]:
    return {
        "error": {
            "code": code,
            "message": message,
            "trace_id": current_trace_id(),
            "request_id": getattr(request.state, "request_id", ""),
            **extra,
        }
    }


def _status_details(error: grpc.aio.AioRpcError) -> list[any_pb2.Any]:
    """Return the google.rpc.Status details a service attached, if any."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return list(status_pb2.Status.FromString(value).details)
    return []


def error_reason(error: grpc.aio.AioRpcError) -> str:
    """Return the ErrorInfo reason a service attached, or the status name."""
    for detail in _status_details(error):
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return str(error.code().name).lower()


def retry_after_seconds(error: grpc.aio.AioRpcError) -> int | None:
    """Return the RetryInfo delay a service attached, rounded up to whole seconds."""
    for detail in _status_details(error):
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(retry):
            seconds = int(retry.retry_delay.seconds)
            return max(0, seconds + (1 if retry.retry_delay.nanos > 0 else 0))
    return None


async def handle_rpc_error(
    request: Request, error: grpc.aio.AioRpcError
) -> JSONResponse:
    code = error.code()
    reason = error_reason(error)
    status = HTTP_STATUS_BY_REASON.get(reason, HTTP_STATUS_BY_GRPC.get(code, 500))
    if status == 500:
        log.error("gateway.rpc_failed", grpc_code=code.name, details=error.details())
        message = "internal error"
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        log.warning(
            "gateway.rpc_unavailable", grpc_code=code.name, details=error.details()
        )
        message = error.details() or code.name.lower()
    else:
        message = error.details() or code.name.lower()
    request.state.grpc_code = code.name
    body = error_body(request, reason, message, grpc_code=code.name)
    headers = {}
    retry_after = retry_after_seconds(error)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_api_error(request: Request, error: ApiError) -> JSONResponse:
    return JSONResponse(
        error_body(request, error.code, error.message), status_code=error.status
    )


async def handle_validation_error(
    request: Request, error: RequestValidationError
) -> JSONResponse:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
        for item in error.errors()
    )
    return JSONResponse(
        error_body(request, "validation_failed", f"invalid request: {problems}"),
        status_code=422,
    )


async def handle_http_error(
    request: Request, error: StarletteHTTPException
) -> JSONResponse:
    """Return routing errors (unknown path, wrong method) in the error envelope."""
    code = {404: "not_found", 405: "method_not_allowed"}.get(
        error.status_code, "http_error"
    )
    body = error_body(request, code, str(error.detail))
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


async def handle_unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("gateway.unexpected_error", path=request.url.path)
    return JSONResponse(
        error_body(request, "internal", "internal error"), status_code=500
    )
