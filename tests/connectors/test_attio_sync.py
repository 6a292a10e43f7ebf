"""Attio sync and CRM mirror against the fake Attio over real HTTP."""

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from fakes.attio import AttioStore, create_app
from fakes.attio.datasets import load_maven_crm
from fakes.common.faults import FaultPlan
from fakes.openai.server import serve_in_thread
from services.connectors import crm, failures, feed
from services.connectors.http import RetryPolicy, SourceHttp
from services.connectors.passes import SyncIncomplete
from tests.connectors import harness
from tests.connectors.conftest import PROJECT

TOKEN = "attio-test-token"
CRM_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "crm"


@pytest.fixture
def store() -> AttioStore:
    return AttioStore()


@pytest.fixture
def fake(store: AttioStore) -> Iterator[tuple[str, object]]:
    app = create_app(store, api_token=TOKEN)
    with serve_in_thread(app) as url:
        yield url, app


@pytest.fixture
async def http() -> AsyncIterator[SourceHttp]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with harness.source_http("attio", headers) as client:
        yield client


async def _count(pool: asyncpg.Pool, table: str, where: str = "true") -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                f"SELECT count(*) FROM connectors.{table}"
                f" WHERE project_id = $1 AND {where}",
                uuid.UUID(PROJECT),
            )
        )


def _company(store: AttioStore, name: str) -> str:
    return store.add_record("companies", {"name": name, "domains": [f"{name}.test"]})


def _deal(store: AttioStore, name: str, company: str | None) -> str:
    values = {"name": name, "stage": "Lead", "value": 1000}
    if company:
        values["associated_company"] = company
    return store.add_record("deals", values)


async def test_full_sync_of_the_real_crm_is_complete(
    connectors_pool, store, fake, http
) -> None:
    loaded = load_maven_crm(store, CRM_DATA)

    await harness.sync(connectors_pool, http, fake[0], mode="full")

    assert await _count(connectors_pool, "attio_accounts_raw") == loaded["companies"]
    assert await _count(connectors_pool, "attio_people_raw") == loaded["people"]
    assert await _count(connectors_pool, "attio_opportunities_raw") == loaded["deals"]
    with_company = loaded["deals"] - loaded["deals_without_company"]
    assert (
        await _count(connectors_pool, "crm_opportunities", "account_id IS NOT NULL")
        == with_company
    )
    assert await _count(connectors_pool, "crm_opportunities") == loaded["deals"]
    async with connectors_pool.acquire() as conn:
        assert await crm.unmapped_deals(conn, PROJECT) == 0
        twice = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM connectors.crm_opportunities"
            " GROUP BY project_id, source_system, external_ref"
            " HAVING count(*) > 1) d"
        )
    assert twice == 0


async def test_deal_is_mirrored_once_its_company_arrives(
    connectors_pool, store, fake, http
) -> None:
    company = _company(store, "late")
    deal = _deal(store, "Waiting deal", company)
    # The company pages fail, so the deal arrives before its company.
    fake[1].state.faults.set_plan(
        FaultPlan(rate=1.0, kinds=("500",), path_contains="/companies/")
    )
    with pytest.raises(SyncIncomplete):
        await harness.sync(connectors_pool, http, fake[0])
    async with connectors_pool.acquire() as conn:
        unmapped = await crm.unmapped_deals(conn, PROJECT)
        waiting = await crm.list_opportunities(conn, PROJECT, limit=10, offset=0)

    fake[1].state.faults.set_plan(None)
    await harness.sync(connectors_pool, http, fake[0])
    async with connectors_pool.acquire() as conn:
        deals = await crm.list_opportunities(conn, PROJECT, limit=10, offset=0)
        unmapped_after = await crm.unmapped_deals(conn, PROJECT)

    assert unmapped == 1
    assert waiting == []
    assert [(d["external_ref"], d["account_external_ref"]) for d in deals] == [
        (deal, company)
    ]
    assert unmapped_after == 0


async def test_retry_after_as_an_http_date_is_honoured(
    connectors_pool, store, fake
) -> None:
    """F05: two 429s with an HTTP-date Retry-After, then three companies."""
    for name in ("alpha", "beta", "gamma"):
        _company(store, name)
    fake[1].state.faults.set_plan(
        FaultPlan(script=("429", "429"), path_contains="/companies/")
    )
    policy = RetryPolicy(
        max_attempts=4, backoff_base_seconds=0.01, backoff_max_seconds=5
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}

    started = time.monotonic()
    async with harness.source_http("attio", headers, policy) as slow_http:
        ctx = await harness.sync(connectors_pool, slow_http, fake[0])
    elapsed = time.monotonic() - started
    stats = fake[1].state.stats.snapshot()["paths"]

    assert await _count(connectors_pool, "attio_accounts_raw") == 3
    assert stats["/v2/objects/companies/records/query"] == {"429": 2, "200": 1}
    assert slow_http.rate_limited == 2
    assert ctx.counts["pages_failed"] == 0
    assert 1.0 <= elapsed < 8


async def test_only_active_values_count(connectors_pool, store, fake, http) -> None:
    store.include_historic = True
    company = _company(store, "acme")
    deal = _deal(store, "Renewal", company)
    store.update_record("deals", deal, {"stage": "Won 🎉", "value": 5000})

    await harness.sync(connectors_pool, http, fake[0])
    async with connectors_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT stage, amount FROM connectors.attio_opportunities_raw"
            " WHERE external_id = $1",
            deal,
        )

    assert (row["stage"], int(row["amount"])) == ("Won 🎉", 5000)


async def test_deleted_deal_tombstoned_and_marked(
    connectors_pool, store, fake, http
) -> None:
    company = _company(store, "acme")
    keep, gone = _deal(store, "Keep", company), _deal(store, "Gone", company)
    await harness.sync(connectors_pool, http, fake[0])
    store.delete_record("deals", gone)

    await harness.sync(connectors_pool, http, fake[0])
    async with connectors_pool.acquire() as conn:
        documents = await feed.read_changes(conn, PROJECT, 0, 100, "")
        mirror = {
            d["external_ref"]: d["deleted_at"]
            for d in await crm.list_opportunities(conn, PROJECT, limit=10, offset=0)
        }

    latest = {d.external_id: d.deleted for d in documents}
    assert latest == {keep: False, gone: True}
    assert mirror[keep] is None
    assert mirror[gone] is not None


async def test_malformed_page_is_retried(connectors_pool, store, fake, http) -> None:
    company = _company(store, "acme")
    _deal(store, "Fine deal", company)
    fake[1].state.faults.set_plan(
        FaultPlan(script=("malformed",), path_contains="/deals/")
    )

    ctx = await harness.sync(connectors_pool, http, fake[0])

    assert await _count(connectors_pool, "attio_opportunities_raw") == 1
    assert ctx.counts["pages_failed"] == 0
    async with connectors_pool.acquire() as conn:
        errors = await failures.list_errors(
            conn, PROJECT, connector="attio", status=None, limit=10, before_id=None
        )
    assert errors == []
