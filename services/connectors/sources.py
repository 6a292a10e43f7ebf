"""The connectors this service supports and how to run a sync of each."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from services.connectors import failures, repository
from services.connectors.attio import sync as attio_sync
from services.connectors.attio.client import AttioClient
from services.connectors.chatwoot.client import ChatwootClient
from services.connectors.chatwoot.sync import ChatwootSync
from services.connectors.errors import (
    ConnectorNotConfigured,
    ConnectorNotFound,
    SourceError,
)
from services.connectors.http import RetryPolicy, SourceHttp
from services.connectors.linear import sync as linear_sync
from services.connectors.linear.client import LinearClient
from services.connectors.passes import SyncContext, run_entities
from services.connectors.repository import SyncRun
from services.connectors.settings import ConnectorsSettings

KNOWN_CONNECTORS = ("chatwoot", "linear", "attio")
# Chatwoot saves its cursor once per run, so a failure is retried as a whole
# run from that cursor; its pages are idempotent.
CHATWOOT_ENTITY = "conversations"

Progress = Callable[[dict[str, int]], Awaitable[None]]
SyncBody = Callable[[SyncRun, Progress], Awaitable[dict[str, int]]]

SETTINGS_HINTS = {
    "chatwoot": "CHATWOOT_BASE_URL, CHATWOOT_API_TOKEN and CHATWOOT_ACCOUNT_ID",
    "linear": "LINEAR_API_URL and LINEAR_API_KEY",
    "attio": "ATTIO_BASE_URL and ATTIO_API_TOKEN",
}


def require_known(connector: str) -> str:
    """Return the connector name, or raise ConnectorNotFound for an unknown one."""
    if connector not in KNOWN_CONNECTORS:
        raise ConnectorNotFound(
            f"unknown connector {connector!r}; known: {', '.join(KNOWN_CONNECTORS)}"
        )
    return connector


def is_configured(settings: ConnectorsSettings, connector: str) -> bool:
    if connector == "linear":
        return bool(settings.linear_api_url and settings.linear_api_key)
    if connector == "attio":
        return bool(settings.attio_base_url and settings.attio_api_token)
    return bool(
        settings.chatwoot_base_url
        and settings.chatwoot_api_token
        and settings.chatwoot_account_id
    )


def require_configured(settings: ConnectorsSettings, connector: str) -> None:
    """Raise ConnectorNotConfigured unless the connector's settings are all set."""
    if not is_configured(settings, connector):
        raise ConnectorNotConfigured(
            f"{connector} is not configured: set {SETTINGS_HINTS[connector]}"
        )


def _auth_headers(settings: ConnectorsSettings, connector: str) -> dict[str, str]:
    if connector == "linear":
        assert settings.linear_api_key is not None
        # A personal API key goes in the header as it is, with no Bearer prefix.
        return {"Authorization": settings.linear_api_key.get_secret_value()}
    if connector == "attio":
        assert settings.attio_api_token is not None
        token = settings.attio_api_token.get_secret_value()
        return {"Authorization": f"Bearer {token}"}
    assert settings.chatwoot_api_token is not None
    return {"api_access_token": settings.chatwoot_api_token.get_secret_value()}


@asynccontextmanager
async def open_source_http(
    settings: ConnectorsSettings, connector: str
) -> AsyncIterator[SourceHttp]:
    """Open an HTTP client for a configured connector, with its token and retries."""
    policy = RetryPolicy(
        settings.http_max_attempts,
        settings.http_backoff_base_seconds,
        settings.http_backoff_max_seconds,
    )
    async with httpx.AsyncClient(
        headers=_auth_headers(settings, connector),
        timeout=settings.http_timeout_seconds,
    ) as client:
        yield SourceHttp(client, connector, policy)


def linear_client(settings: ConnectorsSettings, http: SourceHttp) -> LinearClient:
    assert settings.linear_api_url
    return LinearClient(http, settings.linear_api_url)


def attio_client(settings: ConnectorsSettings, http: SourceHttp) -> AttioClient:
    assert settings.attio_base_url
    return AttioClient(http, settings.attio_base_url)


def chatwoot_client(settings: ConnectorsSettings, http: SourceHttp) -> ChatwootClient:
    assert settings.chatwoot_base_url is not None
    return ChatwootClient(
        http, settings.chatwoot_base_url, int(settings.chatwoot_account_id or 0)
    )


class SyncBodies:
    """Builds the function that performs one run of a connector."""

    def __init__(self, pool: asyncpg.Pool, settings: ConnectorsSettings) -> None:
        self._pool = pool
        self._settings = settings
        self.backoff = failures.Backoff(
            settings.error_backoff_base_seconds,
            settings.error_backoff_max_seconds,
            settings.error_max_attempts,
        )

    def for_connector(self, connector: str) -> SyncBody:
        require_configured(self._settings, connector)
        return {
            "chatwoot": self._run_chatwoot,
            "linear": self._run_linear,
            "attio": self._run_attio,
        }[connector]

    def _context(self, run: SyncRun, progress: Progress, overlap: float) -> SyncContext:
        return SyncContext(
            pool=self._pool,
            project_id=run.project_id,
            connector=run.connector,
            run_id=run.id,
            overlap=timedelta(seconds=overlap),
            backoff=self.backoff,
            progress=progress,
        )

    async def _run_linear(self, run: SyncRun, progress: Progress) -> dict[str, int]:
        settings = self._settings
        ctx = self._context(run, progress, settings.linear_overlap_seconds)
        async with open_source_http(settings, "linear") as http:
            client = linear_client(settings, http)
            entities = linear_sync.entities(client, run.project_id)
            await run_entities(
                ctx, entities, run.mode, run.external_ids, catch_up=("issues",)
            )
            return await self._succeeded(run, ctx, http)

    async def _run_attio(self, run: SyncRun, progress: Progress) -> dict[str, int]:
        settings = self._settings
        ctx = self._context(run, progress, 0)
        async with open_source_http(settings, "attio") as http:
            client = attio_client(settings, http)
            entities = attio_sync.entities(client, run.project_id)
            await run_entities(ctx, list(entities), run.mode, run.external_ids)
            return await self._succeeded(run, ctx, http)

    async def _succeeded(
        self, run: SyncRun, ctx: SyncContext, http: SourceHttp
    ) -> dict[str, int]:
        # Only a whole pass brings the connector up to date; a targeted sync or
        # a retry of some pages leaves its lag as it was.
        if run.mode in ("incremental", "full"):
            async with self._pool.acquire() as conn:
                await repository.mark_success(
                    conn, ctx.project_id, ctx.connector, ctx.run_id
                )
        counts = dict(ctx.counts)
        counts["http_retries"] = http.retries
        counts["rate_limited"] = http.rate_limited
        return counts

    async def _run_chatwoot(self, run: SyncRun, progress: Progress) -> dict[str, int]:
        settings = self._settings
        async with open_source_http(settings, "chatwoot") as http:
            chatwoot = chatwoot_client(settings, http)
            sync = ChatwootSync(
                self._pool,
                chatwoot,
                project_id=run.project_id,
                run_id=run.id,
                overlap_seconds=settings.chatwoot_overlap_seconds,
                progress=progress,
            )
            async with self._pool.acquire() as conn:
                cursor = await repository.load_cursor(conn, run.project_id, "chatwoot")
            mode = "incremental" if run.mode == "retry" else run.mode
            try:
                await sync.run(mode, cursor, run.external_ids)
            except SourceError as exc:
                if mode != "targeted":
                    await self._record_chatwoot_failure(run, cursor, exc)
                raise
            async with self._pool.acquire() as conn:
                await failures.resolve(
                    conn, run.project_id, "chatwoot", CHATWOOT_ENTITY, [""]
                )
            counts = dict(sync.counts)
            counts["http_retries"] = http.retries
            counts["rate_limited"] = http.rate_limited
            return counts

    async def _record_chatwoot_failure(
        self, run: SyncRun, cursor: dict[str, Any], exc: SourceError
    ) -> None:
        """Record a failed Chatwoot sync; it resumes from the saved cursor."""
        async with self._pool.acquire() as conn:
            await failures.record(
                conn,
                self.backoff,
                project_id=run.project_id,
                connector="chatwoot",
                entity=CHATWOOT_ENTITY,
                target="",
                position=cursor,
                kind=exc.kind,
                message=exc.message,
                run_id=run.id,
            )
