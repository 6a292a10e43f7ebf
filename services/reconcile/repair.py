"""Repairing what reconciliation found: targeted syncs of the ids concerned.

A targeted sync fetches each named record again. One the raw table lacks is
written, a stale one is rewritten, and one the source no longer has is marked
deleted. A record missing only from the CRM mirror gets its mirror row
rebuilt. A deal waiting for its company is repaired by fetching the company,
and a Chatwoot message by fetching its conversation. Chatwoot contacts have
no targeted sync, and some are known only as the sender of a conversation, so
a full sync reads them again.
"""

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import grpc
import structlog

from gen.connectors.v1 import connectors_pb2 as connectors_pb
from services.common.database import Connection
from services.common.internal_auth import Principal
from services.reconcile.connectors_client import ConnectorsClient

log = structlog.get_logger(__name__)

POLL_SECONDS = 0.5
# The id a repair fetches for each kind of finding: the record itself, or
# the record it belongs to.
_TARGETS = """
SELECT DISTINCT CASE
    WHEN entity = 'chatwoot/messages' THEN parent
    WHEN kind = 'missing_in_mirror' AND reason LIKE 'company%' THEN parent
    ELSE external_id END AS target
FROM reconcile.findings
WHERE run_id = $1 AND project_id = $2 AND entity LIKE $3 || '/%'
    AND entity <> 'chatwoot/contacts' AND repairable
    AND kind IN ('missing_in_raw', 'stale', 'orphan', 'missing_in_mirror')
ORDER BY 1
"""


@dataclass
class RepairPlan:
    connector: str
    external_ids: list[str] = field(default_factory=list)
    # Ids left out over the per-repair limit.
    left_out: int = 0
    # A full sync is needed (Chatwoot contacts).
    full: bool = False


@dataclass(frozen=True)
class RepairResult:
    connector: str
    ids_requested: int
    sync_run_id: str
    status: str


async def plan(
    conn: Connection, run_id: int, project_id: str, connector: str, limit: int
) -> RepairPlan:
    """Collect what a repair of one connector must fetch."""
    project = uuid.UUID(project_id)
    rows = await conn.fetch(_TARGETS, run_id, project, connector)
    targets = [row["target"] for row in rows if row["target"]]
    result = RepairPlan(connector, targets[:limit], max(0, len(targets) - limit))
    if connector == "chatwoot":
        result.full = bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM reconcile.findings WHERE run_id = $1"
                " AND project_id = $2 AND entity = 'chatwoot/contacts' AND repairable"
                " AND kind IN ('missing_in_raw', 'stale'))",
                run_id,
                project,
            )
        )
    return result


class Repairer:
    """Starts a repair's syncs and waits for them to end."""

    def __init__(self, connectors: ConnectorsClient, wait_seconds: float) -> None:
        self._connectors = connectors
        self._wait_seconds = wait_seconds

    async def run(self, caller: Principal, repair: RepairPlan) -> list[RepairResult]:
        results = []
        if repair.external_ids:
            results.append(
                await self._sync(caller, repair, "targeted", repair.external_ids)
            )
        if repair.full:
            results.append(await self._sync(caller, repair, "full", []))
        return results

    async def _sync(
        self, caller: Principal, repair: RepairPlan, mode: str, ids: list[str]
    ) -> RepairResult:
        deadline = time.monotonic() + self._wait_seconds
        try:
            run = await self._connectors.start_sync(caller, repair.connector, mode, ids)
            if run.already_running:
                # Another sync of the connector is running. Let it end, then
                # start ours.
                await self._wait(caller, run, deadline)
                run = await self._connectors.start_sync(
                    caller, repair.connector, mode, ids
                )
            run = await self._wait(caller, run, deadline)
        except grpc.aio.AioRpcError as exc:
            log.warning("reconcile.repair_failed", connector=repair.connector)
            status = f"not started: {exc.code().name}: {exc.details()}"
            return RepairResult(repair.connector, len(ids), "", status)
        status = run.status
        if run.error:
            status = f"{status}: {run.error}"
        if repair.left_out:
            status += f" ({repair.left_out} more ids wait for the next repair)"
        return RepairResult(repair.connector, len(ids), run.id, status)

    async def _wait(
        self, caller: Principal, run: connectors_pb.SyncRun, deadline: float
    ) -> connectors_pb.SyncRun:
        while run.status == "running" and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
            run = await self._connectors.get_run(caller, run.id)
        return run
