"""The reconcile service's scheduled job: one reconciliation per project.

The job runs at its cadence and whenever the connectors service makes it due
after a finished sync. Scheduled runs measure only; repair is an operator's
decision.
"""

from typing import Any

from services.common.internal_auth import service_principal
from services.common.scheduler import Handler, JobRow, Progress, Scheduler
from services.reconcile.runs import Reconciler

RECONCILE_JOB = "reconcile"


class ReconcileJobs:
    def __init__(self, reconciler: Reconciler, *, interval_seconds: float) -> None:
        self._reconciler = reconciler
        self._interval = interval_seconds
        self._known_projects: set[str] = set()
        self.scheduler: Scheduler | None = None

    def handlers(self) -> dict[str, Handler]:
        return {RECONCILE_JOB: self._reconcile}

    async def ensure_project(self, project_id: str) -> None:
        """Create the project's reconciliation job, once."""
        if project_id in self._known_projects or self.scheduler is None:
            return
        await self.scheduler.ensure(RECONCILE_JOB, self._interval, project_id)
        self._known_projects.add(project_id)

    async def _reconcile(self, job: JobRow, progress: Progress) -> dict[str, Any]:
        caller = service_principal("reconcile", job.project_id)
        # A sync that ends while a run is in progress queues the next run.
        outcome = await self._reconciler.run(caller, [], repair=False, wait=True)
        return {
            "run_id": outcome.run.id,
            "status": outcome.run.status,
            "entities": len(outcome.entities),
        }
