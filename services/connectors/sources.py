"""The connectors this service supports and how to run a sync of each."""

from collections.abc import Awaitable, Callable

import asyncpg
import httpx

from services.connectors import repository
from services.connectors.chatwoot.client import ChatwootClient
from services.connectors.chatwoot.sync import ChatwootSync
from services.connectors.errors import ConnectorNotConfigured, ConnectorNotFound
from services.connectors.http import RetryPolicy, SourceHttp
from services.connectors.repository import SyncRun
from services.connectors.settings import ConnectorsSettings

KNOWN_CONNECTORS = ("chatwoot",)

Progress = Callable[[dict[str, int]], Awaitable[None]]


def require_known(connector: str) -> str:
    """Return the connector name, or raise ConnectorNotFound for an unknown one."""
    if connector not in KNOWN_CONNECTORS:
        raise ConnectorNotFound(
            f"unknown connector {connector!r}; known: {', '.join(KNOWN_CONNECTORS)}"
        )
    return connector


def is_configured(settings: ConnectorsSettings, connector: str) -> bool:
    return bool(
        settings.chatwoot_base_url
        and settings.chatwoot_api_token
        and settings.chatwoot_account_id
    )


class SyncBodies:
    """Builds the function that performs one run of a connector."""

    def __init__(self, pool: asyncpg.Pool, settings: ConnectorsSettings) -> None:
        self._pool = pool
        self._settings = settings

    def for_connector(
        self, connector: str
    ) -> Callable[[SyncRun, Progress], Awaitable[dict[str, int]]]:
        if not is_configured(self._settings, connector):
            raise ConnectorNotConfigured(
                "Chatwoot is not configured: set CHATWOOT_BASE_URL, CHATWOOT_API_TOKEN"
                " and CHATWOOT_ACCOUNT_ID"
            )
        return self._run_chatwoot

    async def _run_chatwoot(self, run: SyncRun, progress: Progress) -> dict[str, int]:
        settings = self._settings
        assert settings.chatwoot_api_token is not None
        assert settings.chatwoot_base_url is not None
        policy = RetryPolicy(
            settings.http_max_attempts,
            settings.http_backoff_base_seconds,
            settings.http_backoff_max_seconds,
        )
        headers = {"api_access_token": settings.chatwoot_api_token.get_secret_value()}
        async with httpx.AsyncClient(
            headers=headers, timeout=settings.http_timeout_seconds
        ) as client:
            http = SourceHttp(client, "chatwoot", policy)
            chatwoot = ChatwootClient(
                http, settings.chatwoot_base_url, int(settings.chatwoot_account_id or 0)
            )
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
            await sync.run(run.mode, cursor, run.external_ids)
            counts = dict(sync.counts)
            counts["http_retries"] = http.retries
            counts["rate_limited"] = http.rate_limited
            return counts
