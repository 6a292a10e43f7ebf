"""The CRM mirror: crm_accounts and crm_opportunities from the Attio raw tables.

Each mirror row is unique on (project_id, source_system, external_ref), so
repeated syncs and manual edits update the one row of a reference. A deal
whose company has not been synced yet is not mirrored and counts as unmapped.
When the company arrives, the mirror takes every deal that references it.
Records deleted in the source keep their mirror row with deleted_at set.
"""

import uuid
from typing import Any

from services.common.database import Connection

SOURCE_SYSTEM = "attio"


async def mirror_accounts(
    conn: Connection, project_id: str, company_ids: list[str] | None = None
) -> int:
    """Bring crm_accounts up to date with attio_accounts_raw; return rows written.

    company_ids limits the work to those companies; None checks them all.
    """
    scope = "" if company_ids is None else " AND r.external_id = ANY($3::text[])"
    arguments = [] if company_ids is None else [company_ids]
    rows = await conn.fetch(
        "INSERT INTO connectors.crm_accounts AS m (project_id, source_system,"
        " external_ref, name, domain, source_hash, deleted_at)"
        " SELECT r.project_id, $2, r.external_id, r.name, r.domains[1],"
        " r.content_hash, r.deleted_at FROM connectors.attio_accounts_raw r"
        " LEFT JOIN connectors.crm_accounts a ON a.project_id = r.project_id"
        " AND a.source_system = $2 AND a.external_ref = r.external_id"
        " WHERE r.project_id = $1"
        f"{scope} AND (a.id IS NULL"
        " OR a.source_hash IS DISTINCT FROM r.content_hash"
        " OR a.deleted_at IS DISTINCT FROM r.deleted_at)"
        " ON CONFLICT (project_id, source_system, external_ref) DO UPDATE SET"
        " name = EXCLUDED.name, domain = EXCLUDED.domain,"
        " source_hash = EXCLUDED.source_hash, deleted_at = EXCLUDED.deleted_at,"
        " updated_at = now() RETURNING 1",
        uuid.UUID(project_id),
        SOURCE_SYSTEM,
        *arguments,
    )
    return len(rows)


async def mirror_opportunities(
    conn: Connection,
    project_id: str,
    deal_ids: list[str] | None = None,
    company_ids: list[str] | None = None,
) -> int:
    """Mirror the deals that are new or changed and whose company is known.

    With ids, only those deals and the deals of those companies are checked,
    so a page costs the same however large the mirror grows. Without ids,
    every deal is checked.
    """
    project = uuid.UUID(project_id)
    if deal_ids is None and company_ids is None:
        scope = ""
        arguments: list[object] = []
    else:
        deals = list(deal_ids or [])
        if company_ids:
            deals += [
                row["external_id"]
                for row in await conn.fetch(
                    "SELECT external_id FROM connectors.attio_opportunities_raw"
                    " WHERE project_id = $1 AND company_external_id = ANY($2::text[])",
                    project,
                    company_ids,
                )
            ]
        scope = " AND o.external_id = ANY($3::text[])"
        arguments = [deals]
    rows = await conn.fetch(
        "INSERT INTO connectors.crm_opportunities AS m (project_id, source_system,"
        " external_ref, account_id, name, stage, amount, currency, owner_ref,"
        " source_hash, deleted_at)"
        " SELECT o.project_id, $2, o.external_id, a.id, o.name, o.stage, o.amount,"
        " o.currency, o.owner_ref, o.content_hash, o.deleted_at"
        " FROM connectors.attio_opportunities_raw o"
        " LEFT JOIN connectors.crm_accounts a ON a.project_id = o.project_id"
        " AND a.source_system = $2 AND a.external_ref = o.company_external_id"
        " LEFT JOIN connectors.crm_opportunities p ON p.project_id = o.project_id"
        " AND p.source_system = $2 AND p.external_ref = o.external_id"
        f" WHERE o.project_id = $1{scope}"
        " AND (o.company_external_id IS NULL OR a.id IS NOT NULL)"
        " AND (p.id IS NULL OR p.source_hash IS DISTINCT FROM o.content_hash"
        " OR p.account_id IS DISTINCT FROM a.id"
        " OR p.deleted_at IS DISTINCT FROM o.deleted_at)"
        " ON CONFLICT (project_id, source_system, external_ref) DO UPDATE SET"
        " account_id = EXCLUDED.account_id, name = EXCLUDED.name,"
        " stage = EXCLUDED.stage, amount = EXCLUDED.amount,"
        " currency = EXCLUDED.currency, owner_ref = EXCLUDED.owner_ref,"
        " source_hash = EXCLUDED.source_hash, deleted_at = EXCLUDED.deleted_at,"
        " updated_at = now() RETURNING 1",
        project,
        SOURCE_SYSTEM,
        *arguments,
    )
    return len(rows)


async def unmapped_deals(conn: Connection, project_id: str) -> int:
    """Count live deals whose company is not in the mirror yet."""
    value = await conn.fetchval(
        "SELECT count(*) FROM connectors.attio_opportunities_raw o"
        " WHERE o.project_id = $1 AND o.deleted_at IS NULL"
        " AND o.company_external_id IS NOT NULL AND NOT EXISTS ("
        " SELECT 1 FROM connectors.crm_accounts a WHERE a.project_id = o.project_id"
        " AND a.source_system = $2 AND a.external_ref = o.company_external_id)",
        uuid.UUID(project_id),
        SOURCE_SYSTEM,
    )
    return int(value)


async def list_accounts(
    conn: Connection, project_id: str, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT id, source_system, external_ref, name, domain, deleted_at,"
        " created_at, updated_at FROM connectors.crm_accounts WHERE project_id = $1"
        " ORDER BY id LIMIT $2 OFFSET $3",
        uuid.UUID(project_id),
        limit,
        offset,
    )
    return [dict(row) for row in rows]


async def list_opportunities(
    conn: Connection, project_id: str, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT o.id, o.source_system, o.external_ref, o.account_id,"
        " a.external_ref AS account_external_ref, a.name AS account_name, o.name,"
        " o.stage, o.amount, o.currency, o.owner_ref, o.deleted_at, o.created_at,"
        " o.updated_at FROM connectors.crm_opportunities o"
        " LEFT JOIN connectors.crm_accounts a ON a.id = o.account_id"
        " WHERE o.project_id = $1 ORDER BY o.id LIMIT $2 OFFSET $3",
        uuid.UUID(project_id),
        limit,
        offset,
    )
    return [dict(row) for row in rows]
