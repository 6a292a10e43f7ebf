"""The failures the fake Linear API can inject, in the shapes Linear sends.

Outcomes:
- "ratelimited": HTTP 400 with `extensions.code` RATELIMITED, the response
  Linear sends when a rate limit is used up.
- "429": HTTP 429 with Retry-After in seconds, which Linear's SDK also maps to
  a rate-limit error.
- "500", "502", "503": server and proxy failures.
- "401": the authentication error.
- "timeout": waits hang_seconds, then sends the normal response.
- "truncated": the normal JSON body cut in half.
- "malformed": HTTP 200 with `data: null` and an internal error, so the page
  has no `nodes` or `pageInfo`.
- "too_complex": the "Query too complex" error, whatever the query.
Choosing them is the job of fakes.common.faults.
"""

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from fakes.common.faults import CallNext, Fault, FaultInjector, FaultPlan, truncated
from fakes.linear.complexity import RateLimiter
from fakes.linear.errors import (
    MAX_COMPLEXITY,
    authentication_body,
    error_body,
    internal_error_body,
    ratelimited_body,
    too_complex_error,
)

FAULT_KINDS = (
    "ratelimited",
    "429",
    "500",
    "502",
    "503",
    "401",
    "timeout",
    "truncated",
    "malformed",
    "too_complex",
)
RETRY_AFTER_SECONDS = 30
# The cost the "too_complex" outcome reports, just over the cap.
INJECTED_COMPLEXITY = MAX_COMPLEXITY + 2304.999999999998
# Stand-in pages for a proxy's 502 and 503 responses, not copies of what
# Linear's edge sends. Clients should not parse them.
PROXY_ERROR_PAGES = {
    502: b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1></body></html>\n",
    503: b"<html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>503 Service Unavailable</h1></body></html>\n",
}

Responder = Callable[[Fault, Request, CallNext], Awaitable[Response]]


def linear_injector(plan: FaultPlan | None) -> FaultInjector:
    """Return an injector that accepts only the outcomes in FAULT_KINDS."""
    return FaultInjector(FAULT_KINDS, plan)


def make_responder(limiter: RateLimiter) -> Responder:
    """Return the fault responder, which adds the rate-limit headers to responses."""

    async def respond(fault: Fault, request: Request, call_next: CallNext) -> Response:
        headers = limiter.headers(None)
        if fault.kind == "ratelimited":
            headers["X-RateLimit-Requests-Remaining"] = "0"
            return JSONResponse(ratelimited_body(), 400, headers=headers)
        if fault.kind == "429":
            headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return JSONResponse(ratelimited_body(), 429, headers=headers)
        if fault.kind == "500":
            return JSONResponse(internal_error_body(), 500, headers=headers)
        if fault.kind in ("502", "503"):
            status = int(fault.kind)
            return Response(PROXY_ERROR_PAGES[status], status, media_type="text/html")
        if fault.kind == "401":
            return JSONResponse(authentication_body(), 401, headers=headers)
        if fault.kind == "malformed":
            return JSONResponse(internal_error_body(), 200, headers=headers)
        if fault.kind == "too_complex":
            body = error_body(too_complex_error(INJECTED_COMPLEXITY))
            return JSONResponse(body, 400, headers=headers)
        if fault.kind == "timeout":
            await asyncio.sleep(fault.hang_seconds)
        response = await call_next(request)
        if fault.kind == "truncated":
            return await truncated(response)
        return response

    return respond
