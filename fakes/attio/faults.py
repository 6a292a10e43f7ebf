"""The failures the fake Attio can inject, sent in Attio's shapes.

Outcomes:
- "429": rate limited, with `Retry-After` as an HTTP date (IMF-fixdate), as
  Attio sends it, set to the start of the next whole second;
- "429-seconds": rate limited, with `Retry-After` in delta-seconds, the other
  form that RFC 9110 allows and that clients must parse as well;
- "500": Attio's JSON error envelope; "502" and "503": a proxy's HTML page;
- "401": the invalid-token error;
- "timeout": hang for the plan's hang_seconds, then respond normally;
- "truncated": the normal JSON body cut in half;
- "malformed": HTTP 200 whose JSON breaks the response schema (records
  without `values`, or `data` that is not an array).
Choosing them is the job of fakes.common.faults.
"""

import asyncio
import json
import time
from email.utils import formatdate

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from fakes.attio.errors import AttioError
from fakes.common.faults import (
    CallNext,
    Fault,
    FaultInjector,
    FaultPlan,
    Responder,
    read_body,
    truncated,
)

FAULT_KINDS = (
    "429",
    "429-seconds",
    "500",
    "502",
    "503",
    "401",
    "timeout",
    "truncated",
    "malformed",
)

RATE_LIMITED = AttioError(
    429,
    "rate_limit_error",
    "rate_limit_exceeded",
    "Rate limit exceeded, please try again later",
)
# NOTE: guessed body, because Attio does not document its 500 response.
SERVER_ERROR = AttioError(
    500,
    "internal_server_error",
    "internal_server_error",
    "An unexpected error occurred.",
)
# NOTE: stand-in pages for a load balancer's 502 and 503, not copies of Attio's.
PROXY_PAGES = {
    502: b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1></body></html>\n",
    503: b"<html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>503 Service Unavailable</h1></body></html>\n",
}
RETRY_AFTER_SECONDS = 1


def attio_injector(plan: FaultPlan | None) -> FaultInjector:
    """Return an injector that accepts only the outcomes the Attio fake supports."""
    return FaultInjector(FAULT_KINDS, plan)


def retry_after_date(now: float | None = None) -> str:
    """Return the start of the next whole second as an IMF-fixdate HTTP date."""
    moment = time.time() if now is None else now
    return formatdate(int(moment) + RETRY_AFTER_SECONDS, usegmt=True)


def make_responder(invalid_token: AttioError) -> Responder:
    """Return the responder for install_faults, which sends invalid_token for "401"."""

    async def respond(fault: Fault, request: Request, call_next: CallNext) -> Response:
        if fault.kind == "429":
            return _error(RATE_LIMITED, {"Retry-After": retry_after_date()})
        if fault.kind == "429-seconds":
            return _error(RATE_LIMITED, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        if fault.kind == "500":
            return _error(SERVER_ERROR)
        if fault.kind in ("502", "503"):
            status = int(fault.kind)
            return Response(PROXY_PAGES[status], status, media_type="text/html")
        if fault.kind == "401":
            return _error(invalid_token)
        if fault.kind == "timeout":
            await asyncio.sleep(fault.hang_seconds)
        response = await call_next(request)
        if fault.kind == "truncated":
            return await truncated(response)
        if fault.kind == "malformed":
            return await _malformed(response)
        return response

    return respond


def _error(error: AttioError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), error.status_code, headers=headers)


async def _malformed(response: Response) -> Response:
    """Return HTTP 200 with the normal body changed so that it breaks the schema.

    Records lose their `values`. When there is no record to strip, `data`
    becomes an object instead of an array.
    """
    body = await read_body(response)
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {}
    data = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        broken: object = {"data": [_without_values(r) for r in data]}
    elif isinstance(data, dict) and "values" in data:
        broken = {"data": _without_values(data)}
    else:
        broken = {"data": {"records": data}}
    return JSONResponse(broken, 200)


def _without_values(record: dict[str, object]) -> dict[str, object]:
    return {key: value for key, value in record.items() if key != "values"}
