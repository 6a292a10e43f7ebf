"""HTTP calls to source systems with bounded, jittered retries.

Transient failures (429, 5xx, timeouts, dropped connections, a body that is not
valid JSON) are retried with exponential backoff. A `Retry-After` header, in
seconds or as an HTTP date, sets the wait instead, capped by the maximum
backoff. Authentication failures and other 4xx responses are raised at once
because repeating them cannot help.
"""

import asyncio
import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from services.connectors.errors import (
    SourceAuthenticationFailed,
    SourceError,
    SourceRateLimited,
    SourceRecordNotFound,
    SourceResponseInvalid,
    SourceUnavailable,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 30.0

    def backoff_seconds(self, attempt: int, retry_after: float | None) -> float:
        """Return the wait before retry number `attempt` (1-based), with full jitter."""
        if retry_after is not None:
            return min(retry_after, self.backoff_max_seconds) + random.uniform(0, 0.25)
        ceiling = min(
            self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (attempt - 1)
        )
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Parse a Retry-After header given as delta-seconds or as an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)


TOKEN_SETTINGS = {
    "chatwoot": "CHATWOOT_API_TOKEN",
    "linear": "LINEAR_API_KEY",
    "attio": "ATTIO_API_TOKEN",
}

# Looks at a response and its decoded JSON body (None if not JSON) and raises
# a SourceError when the source reports a failure in its own way.
Check = Callable[[httpx.Response, Any], None]


class SourceHttp:
    """A JSON client for one source system that retries what can be retried."""

    def __init__(
        self, client: httpx.AsyncClient, source: str, policy: RetryPolicy
    ) -> None:
        self._client = client
        self._source = source
        self._policy = policy
        self.retries = 0
        self.rate_limited = 0

    async def request_json(
        self,
        method: str,
        url: str,
        *,
        check: Check | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send a request, retrying transient failures, and return the decoded body.

        check, when given, inspects every response first. It raises the
        SourceError that a source signals in its own way, such as a rate limit
        sent as HTTP 400 or a page whose JSON lacks required parts. That error
        is then retried like any other error of its kind.
        """
        attempt = 1
        while True:
            try:
                return await self._attempt(method, url, check, **kwargs)
            except (SourceRateLimited, SourceUnavailable, SourceResponseInvalid) as exc:
                if attempt >= self._policy.max_attempts:
                    raise
                retry_after = (
                    exc.retry_after if isinstance(exc, SourceRateLimited) else None
                )
                wait = self._policy.backoff_seconds(attempt, retry_after)
                log.warning(
                    "source.retry_scheduled",
                    source=self._source,
                    path=httpx.URL(url).path,
                    attempt=attempt,
                    error=exc.code,
                    wait_seconds=round(wait, 2),
                )
                self.retries += 1
                await asyncio.sleep(wait)
                attempt += 1

    async def _attempt(
        self, method: str, url: str, check: Check | None, **kwargs: Any
    ) -> Any:
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise SourceUnavailable(f"{self._source} timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise SourceUnavailable(
                f"{self._source} connection failed: {exc!r}"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if check is not None:
            try:
                check(response, body)
            except SourceRateLimited:
                self.rate_limited += 1
                raise
        self._raise_for_status(response)
        if body is None:
            raise SourceResponseInvalid(
                f"{self._source} returned a body that is not valid JSON"
                f" (status {response.status_code}, {len(response.content)} bytes)"
            )
        return body

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        path = response.request.url.path
        if status == 429:
            self.rate_limited += 1
            raise SourceRateLimited(
                f"{self._source} rate limited {path}",
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        if status in (401, 403):
            raise SourceAuthenticationFailed(
                f"{self._source} rejected the API token ({status}) on {path};"
                f" check {TOKEN_SETTINGS.get(self._source, 'the token')} and its"
                " permissions"
            )
        if status == 404:
            raise SourceRecordNotFound(f"{self._source} has no resource at {path}")
        if status >= 500:
            raise SourceUnavailable(f"{self._source} failed with {status} on {path}")
        raise SourceError(
            f"{self._source} rejected {path} with {status}: {response.text[:200]}"
        )
