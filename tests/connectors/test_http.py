import email.utils
import time

import httpx
import pytest

from services.connectors.errors import (
    SourceAuthenticationFailed,
    SourceResponseInvalid,
    SourceUnavailable,
)
from services.connectors.http import RetryPolicy, SourceHttp, parse_retry_after

FAST = RetryPolicy(max_attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.05)


def _client(
    responses: list[httpx.Response],
) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses[min(len(seen), len(responses)) - 1]

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


def test_retry_after_parses_seconds() -> None:
    assert parse_retry_after("7") == 7.0


def test_retry_after_parses_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 2, usegmt=True)

    wait = parse_retry_after(header, now=now)

    assert wait is not None
    assert 1.0 <= wait <= 2.0


def test_retry_after_ignores_garbage() -> None:
    assert parse_retry_after("soon") is None


async def test_rate_limit_then_success_retries() -> None:
    client, seen = _client(
        [
            httpx.Response(429, text="Retry later\n"),
            httpx.Response(200, json={"payload": []}),
        ]
    )
    http = SourceHttp(client, "chatwoot", FAST)

    body = await http.request_json("GET", "https://source.test/x")

    assert body == {"payload": []}
    assert len(seen) == 2
    assert http.rate_limited == 1


async def test_truncated_body_is_retried_then_raised() -> None:
    client, seen = _client([httpx.Response(200, text='{"payload": [')])
    http = SourceHttp(client, "chatwoot", FAST)

    with pytest.raises(SourceResponseInvalid):
        await http.request_json("GET", "https://source.test/x")

    assert len(seen) == 3


async def test_bad_token_is_not_retried() -> None:
    client, seen = _client(
        [httpx.Response(401, json={"error": "Invalid Access Token"})]
    )
    http = SourceHttp(client, "chatwoot", FAST)

    with pytest.raises(SourceAuthenticationFailed):
        await http.request_json("GET", "https://source.test/x")

    assert len(seen) == 1


async def test_server_errors_exhaust_attempts() -> None:
    client, seen = _client([httpx.Response(503)])
    http = SourceHttp(client, "chatwoot", FAST)

    with pytest.raises(SourceUnavailable):
        await http.request_json("GET", "https://source.test/x")

    assert len(seen) == 3
    assert http.retries == 2
