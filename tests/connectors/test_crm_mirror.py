"""The CRM mirror: deals wait for their company, and one row per reference."""

import json
import uuid
from decimal import Decimal

import asyncpg

from services.connectors import crm
from services.connectors.attio.sync import COMPANIES, DEALS
from tests.connectors.conftest import PROJECT


def _company(key: str, name: str) -> dict:
    return {
        "external_id": key,
        "source_created_at": None,
        "content_hash": f"h-{name}",
        "raw": json.dumps({"name": name}),
        "name": name,
        "domains": [f"{name.lower()}.example"],
    }


def _deal(key: str, company: str | None, stage: str = "Lead") -> dict:
    return {
        "external_id": key,
        "source_created_at": None,
        "content_hash": f"h-{key}-{stage}",
        "raw": json.dumps({"stage": stage}),
        "name": f"Deal {key}",
        "stage": stage,
        "amount": Decimal("1200.50"),
        "currency": "USD",
        "owner_ref": None,
        "company_external_id": company,
        "people_external_ids": [],
    }


async def _mirror(conn) -> None:
    await crm.mirror_accounts(conn, PROJECT)
    await crm.mirror_opportunities(conn, PROJECT)


async def test_deal_waits_for_its_company(connectors_pool: asyncpg.Pool) -> None:
    async with connectors_pool.acquire() as conn:
        await DEALS.upsert(conn, PROJECT, [_deal("d1", "c1"), _deal("d2", None)])
        await _mirror(conn)
        before = await crm.unmapped_deals(conn, PROJECT)
        waiting = await conn.fetchval(
            "SELECT count(*) FROM connectors.crm_opportunities"
            " WHERE external_ref = 'd1'"
        )
        await COMPANIES.upsert(conn, PROJECT, [_company("c1", "Acme")])
        await _mirror(conn)
        after = await crm.unmapped_deals(conn, PROJECT)
        deals = await crm.list_opportunities(conn, PROJECT, limit=10, offset=0)

    assert before == 1
    assert waiting == 0
    assert after == 0
    by_ref = {row["external_ref"]: row for row in deals}
    assert by_ref["d1"]["account_external_ref"] == "c1"
    assert by_ref["d1"]["source_system"] == "attio"
    assert by_ref["d1"]["amount"] == Decimal("1200.50")
    assert by_ref["d2"]["account_id"] is None


async def test_manual_edit_and_resync_keep_one_row(
    connectors_pool: asyncpg.Pool,
) -> None:
    async with connectors_pool.acquire() as conn:
        await COMPANIES.upsert(conn, PROJECT, [_company("c1", "Acme")])
        await DEALS.upsert(conn, PROJECT, [_deal("d1", "c1")])
        await _mirror(conn)
        await conn.execute(
            "UPDATE connectors.crm_opportunities SET name = 'edited by hand',"
            " source_hash = 'manual' WHERE external_ref = 'd1'"
        )
        await DEALS.upsert(conn, PROJECT, [_deal("d1", "c1", stage="Won")])
        await _mirror(conn)
        rows = await conn.fetch(
            "SELECT name, stage FROM connectors.crm_opportunities"
            " WHERE project_id = $1 AND external_ref = 'd1'",
            uuid.UUID(PROJECT),
        )
        duplicate = await conn.fetchval(
            "SELECT count(*) FROM (SELECT external_ref"
            " FROM connectors.crm_opportunities"
            " GROUP BY project_id, source_system, external_ref HAVING count(*) > 1) d"
        )

    assert [(r["name"], r["stage"]) for r in rows] == [("Deal d1", "Won")]
    assert duplicate == 0


async def test_deleted_company_keeps_its_row_marked(
    connectors_pool: asyncpg.Pool,
) -> None:
    async with connectors_pool.acquire() as conn:
        await COMPANIES.upsert(conn, PROJECT, [_company("c1", "Acme")])
        await _mirror(conn)
        await COMPANIES.delete_ids(conn, PROJECT, ["c1"])
        await _mirror(conn)
        accounts = await crm.list_accounts(conn, PROJECT, limit=10, offset=0)

    assert len(accounts) == 1
    assert accounts[0]["deleted_at"] is not None
