"""One reconciliation of a project: load each side, compare, store, repair.

For each entity the ids of the source system, the raw table and, for Attio
companies and deals, the CRM mirror stream in from the connectors service.
They are copied into the run's scratch rows, and the comparison runs in
Postgres (see compare.py). The figures of each entity are stored as they are ready,
so a run that fails half way keeps what it measured. One run per project
works at a time, under an advisory lock held by the run's connection.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import asyncpg
import grpc
import structlog

from services.common.audit_client import AuditClient
from services.common.database import Connection
from services.common.errors import Aborted, InvalidArgument
from services.common.internal_auth import Principal, service_principal
from services.common.telemetry import current_trace_id
from services.reconcile import compare, repository, snapshots
from services.reconcile.catalogue import (
    CONNECTORS,
    MIRROR,
    RAW,
    SIDE_REQUESTS,
    SOURCE,
    EntitySpec,
    entities_of,
)
from services.reconcile.connectors_client import ConnectorsClient
from services.reconcile.repair import Repairer, RepairResult, plan
from services.reconcile.repository import MetricsRow

log = structlog.get_logger(__name__)

AUDIT_ACTION = "reconciliation.run"


class ReconciliationRunning(Aborted):
    code = "reconciliation_running"


@dataclass(frozen=True)
class Limits:
    sample_size: int
    repair_max_ids: int
    warning_threshold: float


@dataclass(frozen=True)
class RunOutcome:
    run: repository.RunRow
    entities: list[MetricsRow]
    repairs: list[RepairResult]


class Reconciler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        connectors: ConnectorsClient,
        repairer: Repairer,
        audit: AuditClient,
        limits: Limits,
    ) -> None:
        self._pool = pool
        self._connectors = connectors
        self._repairer = repairer
        self._audit = audit
        self._limits = limits

    async def run(
        self,
        caller: Principal,
        connectors: list[str],
        *,
        repair: bool,
        wait: bool = False,
    ) -> RunOutcome:
        """Reconcile the caller's project and, with repair, fix what a sync can.

        A run of the project in progress makes this one fail, or, with wait,
        start when that one ends.
        """
        project_id = caller.require_project()
        requested = _check_connectors(connectors)
        service = service_principal("reconcile", project_id, caller.request_id)
        explicit = bool(connectors)
        async with self._pool.acquire() as conn:
            if wait:
                await repository.lock(conn, project_id)
            elif not await repository.try_lock(conn, project_id):
                raise ReconciliationRunning(
                    "a reconciliation of this project is already running;"
                    " wait for it to end and read GET /connectors/reconciliation"
                )
            try:
                outcome = await self._locked_run(
                    conn, caller, service, requested, explicit=explicit, repair=repair
                )
                if not outcome.repairs:
                    return outcome
                # Measure again, so the report shows what the repair achieved.
                after = await self._locked_run(
                    conn, caller, service, requested, explicit=explicit, repair=False
                )
                return RunOutcome(after.run, after.entities, outcome.repairs)
            finally:
                await repository.unlock(conn, project_id)

    async def _locked_run(
        self,
        conn: Connection,
        caller: Principal,
        service: Principal,
        connectors: list[str],
        *,
        explicit: bool,
        repair: bool,
    ) -> RunOutcome:
        project_id = service.project_id
        run_id = await repository.open_run(
            conn,
            project_id,
            repair=repair,
            requested_by=caller.subject,
            trace_id=current_trace_id(),
        )
        measured: list[MetricsRow] = []
        repairs: list[RepairResult] = []
        try:
            for connector in connectors:
                rows = await self._connector(conn, service, run_id, connector, explicit)
                measured += rows
                if repair and any(row.status == "ok" for row in rows):
                    repair_plan = await plan(
                        conn, run_id, project_id, connector, self._limits.repair_max_ids
                    )
                    repairs += await self._repairer.run(service, repair_plan)
            # The portfolio sums the latest figures of every entity, so a run
            # of one connector does not hide the others.
            latest = await repository.latest_metrics(conn, project_id)
            portfolio = _portfolio(run_id, latest)
            await repository.save_metrics(conn, project_id, portfolio)
            status = _status(measured)
            await repository.finish_run(
                conn, run_id, status, [asdict(result) for result in repairs]
            )
        except BaseException:
            await repository.finish_run(conn, run_id, "failed", [], "the run failed")
            raise
        finally:
            await repository.clear_scratch(conn, run_id)
        await self._audit_run(caller, service, run_id, status, measured)
        run = await repository.get_run(conn, project_id, run_id)
        assert run is not None
        return RunOutcome(run, measured, repairs)

    async def _connector(
        self,
        conn: Connection,
        service: Principal,
        run_id: int,
        connector: str,
        explicit: bool,
    ) -> list[MetricsRow]:
        rows = []
        for spec in entities_of([connector]):
            try:
                figures = await self._entity(conn, service, run_id, spec)
                row = _row(run_id, spec, figures)
            except grpc.aio.AioRpcError as exc:
                if _not_configured(exc) and not explicit:
                    return []
                log.warning(
                    "reconcile.entity_failed",
                    entity=spec.key,
                    error=f"{exc.code().name}: {exc.details()}",
                )
                row = _failed_row(run_id, spec, f"{exc.code().name}: {exc.details()}")
            await repository.save_metrics(conn, service.project_id, row)
            rows.append(row)
        return rows

    async def _entity(
        self, conn: Connection, service: Principal, run_id: int, spec: EntitySpec
    ) -> compare.EntityFigures:
        streams = {
            SOURCE: self._connectors.source_ids(service, spec.connector, spec.entity)
        }
        sides = (RAW, MIRROR) if spec.mirrored else (RAW,)
        for side in sides:
            streams[side] = self._connectors.local_ids(
                service, spec.connector, spec.entity, SIDE_REQUESTS[side]
            )
        for side, batches in streams.items():
            await snapshots.load(
                conn,
                run_id=run_id,
                project_id=service.project_id,
                entity=spec.key,
                side=side,
                batches=batches,
            )
        return await compare.compare(
            conn,
            spec,
            run_id=run_id,
            project_id=service.project_id,
            sample_size=self._limits.sample_size,
        )

    async def _audit_run(
        self,
        caller: Principal,
        service: Principal,
        run_id: int,
        status: str,
        measured: list[MetricsRow],
    ) -> None:
        threshold = self._limits.warning_threshold
        below = [
            f"{row.connector}/{row.entity}"
            for row in measured
            if row.status == "ok" and row.completeness < threshold
        ]
        failed = [f"{r.connector}/{r.entity}" for r in measured if r.status != "ok"]
        audit_status = "failed" if status == "failed" else "ok"
        if audit_status == "ok" and (below or failed):
            audit_status = "warning"
        await self._audit.record(
            service,
            action=AUDIT_ACTION,
            status=audit_status,
            target=f"reconciliation_run:{run_id}",
            details={
                "run_status": status,
                "below_threshold": below,
                "failed_entities": failed,
                "threshold": threshold,
            },
            actor_user_id=caller.user_id,
        )


def _check_connectors(connectors: list[str]) -> list[str]:
    unknown = sorted(set(connectors) - set(CONNECTORS))
    if unknown:
        raise InvalidArgument(
            f"unknown connector {unknown[0]!r}; known: {', '.join(CONNECTORS)}",
            code="connector_not_found",
        )
    return [name for name in CONNECTORS if not connectors or name in connectors]


def _not_configured(exc: grpc.aio.AioRpcError) -> bool:
    return exc.code() == grpc.StatusCode.FAILED_PRECONDITION and "not configured" in (
        exc.details() or ""
    )


def _row(run_id: int, spec: EntitySpec, figures: compare.EntityFigures) -> MetricsRow:
    counts = figures.counts
    return MetricsRow(
        run_id=run_id,
        connector=spec.connector,
        entity=spec.entity,
        status="ok",
        error=None,
        source_count=figures.source_count,
        raw_count=figures.raw_count,
        mirror_count=figures.mirror_count if spec.mirrored else None,
        current_count=figures.current_count,
        missing_in_raw=counts["missing_in_raw"],
        missing_in_mirror=counts["missing_in_mirror"],
        duplicates=counts["duplicate"],
        orphans=counts["orphan"],
        stale=counts["stale"],
        completeness=figures.completeness,
        samples=figures.samples,
        measured_at=datetime.now(UTC),
    )


def _failed_row(run_id: int, spec: EntitySpec, error: str) -> MetricsRow:
    return MetricsRow(
        run_id=run_id,
        connector=spec.connector,
        entity=spec.entity,
        status="failed",
        error=error,
        source_count=0,
        raw_count=0,
        mirror_count=None,
        current_count=0,
        missing_in_raw=0,
        missing_in_mirror=0,
        duplicates=0,
        orphans=0,
        stale=0,
        completeness=0.0,
        samples=[],
        measured_at=datetime.now(UTC),
    )


def _portfolio(run_id: int, rows: list[MetricsRow]) -> MetricsRow:
    """Sum the run's measured entities into one row."""
    ok = [row for row in rows if row.status == "ok"]
    source = sum(row.source_count for row in ok)
    current = sum(row.current_count for row in ok)
    return MetricsRow(
        run_id=run_id,
        connector=repository.PORTFOLIO[0],
        entity=repository.PORTFOLIO[1],
        status="ok" if ok or not rows else "failed",
        error=None,
        source_count=source,
        raw_count=sum(row.raw_count for row in ok),
        mirror_count=sum(row.mirror_count or 0 for row in ok),
        current_count=current,
        missing_in_raw=sum(row.missing_in_raw for row in ok),
        missing_in_mirror=sum(row.missing_in_mirror for row in ok),
        duplicates=sum(row.duplicates for row in ok),
        orphans=sum(row.orphans for row in ok),
        stale=sum(row.stale for row in ok),
        completeness=current / source if source else 1.0,
        samples=[],
        measured_at=datetime.now(UTC),
    )


def _status(rows: list[MetricsRow]) -> str:
    failed = sum(row.status != "ok" for row in rows)
    if failed == 0:
        return "succeeded"
    return "failed" if failed == len(rows) else "partial"
