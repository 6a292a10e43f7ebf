"""The failures the fake Chatwoot can inject, in the shapes Chatwoot uses.

Outcomes: "429" throttles, "500"/"502"/"503" send an HTML error page, "401"
rejects the token, "timeout" hangs, and "truncated" cuts the normal JSON body
in half. Choosing them is the job of fakes.common.faults.
"""

import asyncio

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from fakes.common.faults import CallNext, Fault, FaultInjector, FaultPlan, truncated

FAULT_KINDS = ("429", "500", "502", "503", "401", "timeout", "truncated")

# Rack::Attack 6.7's default throttle response, which Chatwoot does not override:
# plain text with no Retry-After header.
THROTTLED_BODY = b"Retry later\n"
# NOTE: stand-in bodies for a Rails error page and a proxy's 502/503 pages, not
# copies of what a Chatwoot deployment sends. Clients should not parse them.
SERVER_ERROR_PAGES = {
    500: b"<html><body><h1>We're sorry, but something went wrong.</h1></body></html>\n",
    502: b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1></body></html>\n",
    503: b"<html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>503 Service Unavailable</h1></body></html>\n",
}


def chatwoot_injector(plan: FaultPlan | None) -> FaultInjector:
    """Return an injector that accepts only the outcomes this fake supports."""
    return FaultInjector(FAULT_KINDS, plan)


async def respond(fault: Fault, request: Request, call_next: CallNext) -> Response:
    """Build the response of one request with the chosen failure."""
    if fault.kind == "429":
        # Set the header directly, because media_type would add "; charset=utf-8".
        return Response(THROTTLED_BODY, 429, headers={"content-type": "text/plain"})
    if fault.kind in ("500", "502", "503"):
        status = int(fault.kind)
        return Response(SERVER_ERROR_PAGES[status], status, media_type="text/html")
    if fault.kind == "401":
        return JSONResponse({"error": "Invalid Access Token"}, 401)
    if fault.kind == "timeout":
        await asyncio.sleep(fault.hang_seconds)
    response = await call_next(request)
    if fault.kind == "truncated":
        return await truncated(response)
    return response
