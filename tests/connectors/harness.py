"""Running Linear and Attio syncs in-process against their fakes over real HTTP."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
import httpx

from services.connectors import failures
from services.connectors.attio import sync as attio_sync
from services.connectors.attio.client import AttioClient
from services.connectors.http import RetryPolicy, SourceHttp
from services.connectors.linear import sync as linear_sync
from services.connectors.linear.client import LinearClient
from services.connectors.passes import Entity, SyncContext, run_entities
from tests.connectors.conftest import PROJECT

RUN = "00000000-0000-0000-0000-0000000000a1"
FAST_RETRIES = RetryPolicy(
    max_attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.05
)
BACKOFF = failures.Backoff(base_seconds=0.01, max_seconds=0.02, max_attempts=5)


async def _ignore(counts: dict[str, int]) -> None:
    return None


def context(pool: asyncpg.Pool, connector: str) -> SyncContext:
    return SyncContext(
        pool=pool,
        project_id=PROJECT,
        connector=connector,
        run_id=RUN,
        overlap=timedelta(seconds=300),
        backoff=BACKOFF,
        progress=_ignore,
    )


@asynccontextmanager
async def source_http(
    source: str, headers: dict[str, str], policy: RetryPolicy = FAST_RETRIES
) -> AsyncIterator[SourceHttp]:
    async with httpx.AsyncClient(headers=headers, timeout=5) as client:
        yield SourceHttp(client, source, policy)


async def sync(
    pool: asyncpg.Pool,
    http: SourceHttp,
    url: str,
    mode: str = "incremental",
    external_ids: list[str] | None = None,
) -> SyncContext:
    """Run one sync of the source behind http and return its context."""
    ctx = context(pool, http._source)
    entities: list[Entity]
    catch_up: tuple[str, ...] = ()
    if http._source == "linear":
        entities = linear_sync.entities(LinearClient(http, url), PROJECT)
        catch_up = ("issues",)
    else:
        entities = list(attio_sync.entities(AttioClient(http, url), PROJECT))
    await run_entities(ctx, entities, mode, external_ids or [], catch_up=catch_up)
    return ctx
