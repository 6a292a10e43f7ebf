"""Who may reconcile, one run at a time, and what an unconfigured source gives."""

import asyncio
import uuid

import grpc
import pytest

from fakes.attio import AttioStore
from gen.reconcile.v1 import reconcile_pb2 as pb
from services.common.internal_auth import service_principal
from tests.reconcile.harness import PROJECT, Services, run_sync

OTHER_PROJECT = "00000000-0000-0000-0000-0000000000e6"


@pytest.fixture
def store() -> AttioStore:
    store = AttioStore()
    company = store.add_record("companies", {"name": "Acme", "domains": ["acme.test"]})
    store.add_record("deals", {"name": "Pilot", "associated_company": company})
    return store


async def _run(
    services: Services, role: str = "admin", connectors: tuple[str, ...] = ()
) -> pb.ReconciliationReport:
    report: pb.ReconciliationReport = await services.reconcile.RunReconciliation(
        pb.RunReconciliationRequest(connectors=list(connectors)),
        metadata=services.metadata(role),
    )
    return report


async def _latest(
    services: Services, role: str = "viewer", project_id: str = PROJECT
) -> pb.ReconciliationReport:
    report: pb.ReconciliationReport = await services.reconcile.GetReconciliation(
        pb.GetReconciliationRequest(), metadata=services.metadata(role, project_id)
    )
    return report


@pytest.mark.parametrize("role", ["viewer", "member"])
async def test_only_admins_run_it(services: Services, role: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _run(services, role)

    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_default_run_skips_unconfigured_sources(services: Services) -> None:
    await run_sync(services, "attio")
    before = await _latest(services)

    report = await _run(services)
    latest = await _latest(services)
    other = await _latest(services, project_id=OTHER_PROJECT)

    assert not before.HasField("run")
    assert list(before.entities) == []
    assert report.run.status == "succeeded"
    assert {(e.connector, e.entity) for e in report.entities} == {
        ("attio", "companies"),
        ("attio", "people"),
        ("attio", "deals"),
    }
    assert report.summary.completeness == 1.0
    assert report.summary.source_count == 2
    assert latest.run.id == report.run.id
    assert [e.completeness for e in latest.entities] == [1.0, 1.0, 1.0]
    assert [(p.connector, p.entity, p.completeness) for p in latest.trend] == [
        ("attio", "companies", 1.0),
        ("attio", "deals", 1.0),
        ("attio", "people", 1.0),
        ("portfolio", "all", 1.0),
    ]
    assert list(other.entities) == []
    assert not other.HasField("run")


async def test_named_unconfigured_source_is_a_failed_entity(
    services: Services,
) -> None:
    report = await _run(services, connectors=("chatwoot",))

    assert report.run.status == "failed"
    assert {e.status for e in report.entities} == {"failed"}
    assert "not configured" in report.entities[0].error
    assert report.summary.source_count == 0


async def test_unknown_connector_is_rejected(services: Services) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _run(services, connectors=("salesforce",))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_second_run_of_a_project_waits_its_turn(services: Services) -> None:
    async with services.pools["reconcile"].acquire() as conn:
        await conn.execute(
            "SELECT pg_advisory_lock(hashtextextended('reconcile:' || $1, 0))",
            PROJECT,
        )
        try:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await _run(services)
        finally:
            await conn.execute("SELECT pg_advisory_unlock_all()")

    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert "already running" in (caught.value.details() or "")


async def test_cut_off_run_is_abandoned(
    services: Services,
) -> None:
    async with services.pools["reconcile"].acquire() as conn:
        cut_off = await conn.fetchval(
            "INSERT INTO reconcile.reconciliation_runs (project_id, requested_by)"
            " VALUES ($1, 'test') RETURNING id",
            uuid.UUID(PROJECT),
        )
        await conn.execute(
            "INSERT INTO reconcile.id_snapshots (run_id, project_id, entity, side,"
            " external_id, version, emails, parent, archived, deleted)"
            " VALUES ($1, $2, 'attio/deals', 0, 'x', '', '{}', '', false, false)",
            cut_off,
            uuid.UUID(PROJECT),
        )

    await _run(services)
    async with services.pools["reconcile"].acquire() as conn:
        status = await conn.fetchval(
            "SELECT status FROM reconcile.reconciliation_runs WHERE id = $1", cut_off
        )
        scratch = await conn.fetchval("SELECT count(*) FROM reconcile.id_snapshots")

    assert status == "abandoned"
    assert scratch == 0


async def test_deal_missing_only_from_mirror_is_repaired(
    services: Services, store: AttioStore
) -> None:
    await run_sync(services, "attio")
    deal = store.records("deals")[0].record_id
    async with services.pools["connectors"].acquire() as conn:
        await conn.execute(
            "DELETE FROM connectors.crm_opportunities WHERE external_ref = $1", deal
        )

    found = await _run(services)
    repaired = await services.reconcile.RunReconciliation(
        pb.RunReconciliationRequest(connectors=["attio"], repair=True),
        metadata=services.metadata(),
    )

    deals = next(e for e in found.entities if e.entity == "deals")
    (finding,) = [s for s in deals.samples if s.kind == "missing_in_mirror"]
    assert (finding.external_id, finding.reason) == (deal, "mapping_failed")
    assert finding.repairable
    after = next(e for e in repaired.entities if e.entity == "deals")
    assert after.missing_in_mirror == 0
    assert after.completeness == 1.0


async def test_failed_entities_are_counted_not_hidden(services: Services) -> None:
    await run_sync(services, "attio")
    await _run(services, connectors=("attio",))

    failed = await _run(services, connectors=("chatwoot",))
    latest = await _latest(services)
    async with services.pools["reconcile"].acquire() as conn:
        portfolio = await conn.fetchrow(
            "SELECT source_count, completeness"
            " FROM reconcile.sync_reconciliation_metrics"
            " WHERE run_id = $1 AND connector = 'portfolio'",
            failed.run.id,
        )

    assert portfolio is not None
    assert failed.summary.failed_entities == 3
    assert latest.summary.failed_entities == 3
    assert latest.summary.source_count == 2
    # The portfolio of a one-connector run still sums every entity's latest.
    assert (portfolio["source_count"], portfolio["completeness"]) == (2, 1.0)


async def test_scheduled_run_waits_for_the_running_one(services: Services) -> None:
    caller = service_principal("reconcile", PROJECT)
    async with services.pools["reconcile"].acquire() as conn:
        await conn.execute(
            "SELECT pg_advisory_lock(hashtextextended('reconcile:' || $1, 0))",
            PROJECT,
        )
        queued = asyncio.create_task(
            services.reconciler.run(caller, [], repair=False, wait=True)
        )
        await asyncio.sleep(0.5)
        waited = not queued.done()
        await conn.execute("SELECT pg_advisory_unlock_all()")
    outcome = await asyncio.wait_for(queued, 30)

    assert waited
    assert outcome.run.status == "succeeded"
