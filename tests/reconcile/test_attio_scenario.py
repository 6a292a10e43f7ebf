"""Reconciliation of an Attio workspace with known gaps, and their repair."""

import uuid

import pytest

from fakes.attio import AttioStore
from gen.reconcile.v1 import reconcile_pb2 as pb
from tests.reconcile.harness import PROJECT, Services, run_sync

DUPLICATE_EMAIL = "dana@twice.test"


class Workspace:
    """30 companies and 100 deals; the first company has exactly four deals."""

    def __init__(self, store: AttioStore) -> None:
        self.companies = [
            store.add_record(
                "companies", {"name": f"Company {i}", "domains": [f"c{i}.test"]}
            )
            for i in range(30)
        ]
        self.deals = []
        for i in range(100):
            company = self.companies[0] if i < 4 else self.companies[1 + i % 29]
            values = {"name": f"Deal {i}", "stage": "Lead", "value": 1000 + i}
            values["associated_company"] = company
            self.deals.append(store.add_record("deals", values))
        self.people = [
            store.add_record(
                "people",
                {"name": f"Person {i}", "email_addresses": [f"p{i}@people.test"]},
            )
            for i in range(5)
        ]
        self.twins = [
            store.add_record(
                "people", {"name": "Dana", "email_addresses": [DUPLICATE_EMAIL]}
            )
            for _ in range(2)
        ]


@pytest.fixture
def store() -> AttioStore:
    return AttioStore()


@pytest.fixture
def workspace(store: AttioStore) -> Workspace:
    return Workspace(store)


async def _execute(services: Services, sql: str, *args: object) -> None:
    async with services.pools["connectors"].acquire() as conn:
        await conn.execute(sql, uuid.UUID(PROJECT), *args)


def _entity(report: pb.ReconciliationReport, name: str) -> pb.EntityReport:
    (entity,) = [
        e for e in report.entities if (e.connector, e.entity) == ("attio", name)
    ]
    return entity


def _ids(entity: pb.EntityReport, kind: str) -> list[str]:
    return sorted(s.external_id for s in entity.samples if s.kind == kind)


async def _run(services: Services, repair: bool = False) -> pb.ReconciliationReport:
    report: pb.ReconciliationReport = await services.reconcile.RunReconciliation(
        pb.RunReconciliationRequest(connectors=["attio"], repair=repair),
        metadata=services.metadata(),
    )
    return report


async def test_gaps_reported_then_repaired(
    services: Services, store: AttioStore, workspace: Workspace
) -> None:
    await run_sync(services, "attio")
    withheld = workspace.companies[0]
    withheld_deals = sorted(workspace.deals[:4])
    removed = sorted(workspace.deals[10:13])
    archived = sorted(workspace.deals[20:22])
    # The company and its four deals' mirror rows are lost locally, so the
    # deals wait for it exactly as when the company was never synced.
    await _execute(
        services,
        "DELETE FROM connectors.crm_opportunities WHERE project_id = $1"
        " AND external_ref = ANY($2::text[])",
        withheld_deals,
    )
    await _execute(
        services,
        "DELETE FROM connectors.crm_accounts WHERE project_id = $1"
        " AND external_ref = $2",
        withheld,
    )
    await _execute(
        services,
        "DELETE FROM connectors.attio_accounts_raw WHERE project_id = $1"
        " AND external_id = $2",
        withheld,
    )
    await _execute(
        services,
        "DELETE FROM connectors.attio_opportunities_raw WHERE project_id = $1"
        " AND external_id = ANY($2::text[])",
        removed,
    )
    for deal in archived:
        store.delete_record("deals", deal)

    report = await _run(services)

    companies = _entity(report, "companies")
    assert (companies.source_count, companies.raw_count, companies.mirror_count) == (
        30,
        29,
        29,
    )
    assert companies.missing_in_raw == 1
    assert _ids(companies, "missing_in_raw") == [withheld]
    # Removing a deal changes its company's deal list in the source, so the
    # local copies of those two companies are behind.
    touched = sorted(workspace.companies[1 + i % 29] for i in (20, 21))
    assert _ids(companies, "stale") == touched
    deals = _entity(report, "deals")
    assert (deals.source_count, deals.raw_count, deals.mirror_count) == (98, 97, 96)
    assert (deals.missing_in_raw, deals.missing_in_mirror, deals.orphans) == (3, 4, 2)
    assert (deals.duplicates, deals.stale) == (0, 0)
    assert _ids(deals, "missing_in_raw") == removed
    assert _ids(deals, "missing_in_mirror") == withheld_deals
    assert _ids(deals, "orphan") == archived
    waiting = [s for s in deals.samples if s.kind == "missing_in_mirror"]
    assert {(s.reason, tuple(s.related_ids), s.repairable) for s in waiting} == {
        ("company_not_synced", (withheld,), True)
    }
    assert deals.completeness == pytest.approx(91 / 98)
    people = _entity(report, "people")
    assert people.duplicates == 1
    (twin,) = [s for s in people.samples if s.kind == "duplicate"]
    assert (twin.reason, sorted(twin.related_ids)) == (
        "same_email",
        sorted(workspace.twins),
    )
    assert people.completeness == 1.0

    repaired = await _run(services, repair=True)
    (repair,) = repaired.repairs
    # The report of a repair is measured after it.
    assert _entity(repaired, "deals").completeness == 1.0
    assert _entity(repaired, "companies").completeness == 1.0
    assert repair.connector == "attio"
    assert repair.status == "succeeded"
    assert repair.ids_requested == len([withheld, *touched, *removed, *archived])

    after = await _run(services)
    for name in ("companies", "deals", "people"):
        entity = _entity(after, name)
        assert entity.completeness == 1.0, name
        assert (entity.missing_in_raw, entity.missing_in_mirror) == (0, 0), name
        assert (entity.orphans, entity.stale) == (0, 0), name
    assert _entity(after, "deals").source_count == 98
    assert _entity(after, "deals").mirror_count == 98
    still = _entity(after, "people").samples
    assert [(s.kind, s.reason, s.repairable) for s in still] == [
        ("duplicate", "same_email", False)
    ]
