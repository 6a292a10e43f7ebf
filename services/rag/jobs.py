"""The RAG service's scheduled jobs: indexing and embeddings per project.

Indexing reads the connectors' change feed; when it finishes, it makes the
project's embeddings job due, so a finished sync flows through both.
"""

from dataclasses import asdict
from typing import Any

from services.common.internal_auth import service_principal
from services.common.scheduler import Handler, JobRow, Progress, Scheduler
from services.rag.embedding_job import EmbeddingJob
from services.rag.indexing import Indexer

INDEX_JOB = "index"
EMBEDDINGS_JOB = "embeddings"


class RagJobs:
    def __init__(
        self,
        indexer: Indexer,
        embeddings: EmbeddingJob,
        *,
        index_seconds: float,
        embeddings_seconds: float,
    ) -> None:
        self._indexer = indexer
        self._embeddings = embeddings
        self._cadences = {INDEX_JOB: index_seconds, EMBEDDINGS_JOB: embeddings_seconds}
        self._known_projects: set[str] = set()
        self.scheduler: Scheduler | None = None

    def handlers(self) -> dict[str, Handler]:
        return {INDEX_JOB: self._index, EMBEDDINGS_JOB: self._embed}

    async def ensure_project(self, project_id: str) -> None:
        """Create the project's indexing and embeddings jobs, once."""
        if project_id in self._known_projects or self.scheduler is None:
            return
        for job_type, cadence in self._cadences.items():
            await self.scheduler.ensure(job_type, cadence, project_id)
        self._known_projects.add(project_id)

    async def _index(self, job: JobRow, progress: Progress) -> dict[str, Any]:
        counts = await self._indexer.index_changes(
            service_principal("rag", job.project_id)
        )
        if self.scheduler is not None:
            await self.scheduler.trigger(EMBEDDINGS_JOB, job.project_id)
        return asdict(counts)

    async def _embed(self, job: JobRow, progress: Progress) -> dict[str, Any]:
        counts = await self._embeddings.run(job.project_id)
        result = asdict(counts)
        result["errors"] = result["errors"][:5]
        return result
