"""gRPC servicer of the reconcile service: proto in, domain call, proto out."""

from typing import Any, TypeAlias

import asyncpg
import grpc

from gen.reconcile.v1 import reconcile_pb2 as pb
from gen.reconcile.v1 import reconcile_pb2_grpc
from services.common.internal_auth import current_principal
from services.common.protos import timestamp
from services.reconcile import repository
from services.reconcile.catalogue import ENTITIES
from services.reconcile.repair import RepairResult
from services.reconcile.repository import MetricsRow
from services.reconcile.runs import Reconciler

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
MAX_TREND_DAYS = 90
MIRRORED = {(spec.connector, spec.entity) for spec in ENTITIES if spec.mirrored}


def entity_to_proto(row: MetricsRow) -> pb.EntityReport:
    return pb.EntityReport(
        connector=row.connector,
        entity=row.entity,
        status=row.status,
        error=row.error or "",
        source_count=row.source_count,
        raw_count=row.raw_count,
        mirror_count=row.mirror_count or 0,
        has_mirror=(row.connector, row.entity) in MIRRORED,
        missing_in_raw=row.missing_in_raw,
        missing_in_mirror=row.missing_in_mirror,
        duplicates=row.duplicates,
        orphans=row.orphans,
        stale=row.stale,
        completeness=row.completeness,
        samples=[pb.Finding(**sample) for sample in row.samples],
        measured_at=timestamp(row.measured_at),
        run_id=row.run_id,
    )


def summarise(rows: list[MetricsRow], threshold: float) -> pb.Summary:
    ok = [row for row in rows if row.status == "ok"]
    source = sum(row.source_count for row in ok)
    current = sum(row.current_count for row in ok)
    return pb.Summary(
        source_count=source,
        current_count=current,
        completeness=current / source if source else 1.0,
        missing=sum(row.missing_in_raw + row.missing_in_mirror for row in ok),
        duplicates=sum(row.duplicates for row in ok),
        orphans=sum(row.orphans for row in ok),
        stale=sum(row.stale for row in ok),
        entities_below_threshold=sum(row.completeness < threshold for row in ok),
        failed_entities=len(rows) - len(ok),
    )


def run_to_proto(run: repository.RunRow) -> pb.ReconciliationRun:
    return pb.ReconciliationRun(
        id=run.id,
        status=run.status,
        repair=run.repair,
        started_at=timestamp(run.started_at),
        finished_at=timestamp(run.finished_at),
        trace_id=run.trace_id,
    )


def repair_to_proto(result: RepairResult | dict[str, Any]) -> pb.RepairRequest:
    values = result if isinstance(result, dict) else result.__dict__
    return pb.RepairRequest(**values)


class ReconcileServicer(reconcile_pb2_grpc.ReconcileServiceServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        reconciler: Reconciler,
        *,
        threshold: float,
        trend_days: int,
    ) -> None:
        self._pool = pool
        self._reconciler = reconciler
        self._threshold = threshold
        self._trend_days = trend_days

    async def RunReconciliation(
        self, request: pb.RunReconciliationRequest, context: Context
    ) -> pb.ReconciliationReport:
        """Reconcile the caller's project now; admins only."""
        caller = current_principal()
        caller.require_project()
        caller.require_role("admin")
        outcome = await self._reconciler.run(
            caller, list(request.connectors), repair=request.repair
        )
        return pb.ReconciliationReport(
            run=run_to_proto(outcome.run),
            entities=[entity_to_proto(row) for row in outcome.entities],
            summary=summarise(outcome.entities, self._threshold),
            repairs=[repair_to_proto(result) for result in outcome.repairs],
            warning_threshold=self._threshold,
        )

    async def GetReconciliation(
        self, request: pb.GetReconciliationRequest, context: Context
    ) -> pb.ReconciliationReport:
        """Return the latest figures of the caller's project and their trend."""
        caller = current_principal()
        project_id = caller.require_project()
        caller.require_role("viewer")
        days = min(max(request.days or self._trend_days, 1), MAX_TREND_DAYS)
        async with self._pool.acquire() as conn:
            rows = await repository.latest_metrics(conn, project_id)
            trend = await repository.trend(conn, project_id, days)
            run = await repository.get_run(conn, project_id, None)
        report = pb.ReconciliationReport(
            entities=[entity_to_proto(row) for row in rows],
            summary=summarise(rows, self._threshold),
            trend=[pb.TrendPoint(**point.__dict__) for point in trend],
            warning_threshold=self._threshold,
        )
        if run is not None:
            report.run.CopyFrom(run_to_proto(run))
            report.repairs.extend(repair_to_proto(r) for r in run.repairs)
        return report
