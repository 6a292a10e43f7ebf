"""The embeddings job: claim pending chunks in batches, embed them, store vectors.

On failure: a provider outage puts the batch back to `pending` with a delay
and ends the run, so an outage is not hammered. An input the provider rejects
fails only that chunk. A chunk that has been tried `max_attempts` times is
marked `failed` with the reason instead of being retried forever.
"""

import asyncio
import os
import socket
import time
import uuid
from dataclasses import dataclass, field

import asyncpg
import structlog

from services.rag import repository
from services.rag.embedding import EmbeddingProvider
from services.rag.errors import (
    EmbeddingInputRejected,
    EmbeddingProviderUnavailable,
    RagError,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class EmbeddingPolicy:
    batch_size: int
    max_attempts: int
    retry_seconds: float
    claim_stale_seconds: float
    # Batches in flight at once: while one batch waits for the provider,
    # others are claimed or stored. Each needs a pool connection only while
    # it claims or stores.
    concurrency: int = 1


@dataclass
class EmbeddingCounts:
    embedded: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    batches: int = 0
    remaining_pending: int = 0
    duration_ms: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class _RunState:
    """State shared by the workers of one run: the chunk budget and the stop flag."""

    project_id: str
    # Maximum number of chunks this run claims; 0 or less means no limit.
    max_chunks: int
    claimed: int = 0
    stopped: bool = False

    def reserve(self, batch_size: int) -> int:
        """Reserve up to batch_size chunks of the budget; return how many."""
        size = batch_size
        if self.max_chunks > 0:
            size = max(0, min(size, self.max_chunks - self.claimed))
        self.claimed += size
        return size

    def release(self, unused: int) -> None:
        self.claimed -= unused


class EmbeddingJob:
    """Embeds a project's pending chunks with one provider."""

    def __init__(
        self, pool: asyncpg.Pool, provider: EmbeddingProvider, policy: EmbeddingPolicy
    ) -> None:
        self._pool = pool
        self._provider = provider
        self._policy = policy
        self._worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    async def run(self, project_id: str, max_chunks: int = 0) -> EmbeddingCounts:
        """Embed pending chunks until none is due or max_chunks is reached.

        Concurrency: `policy.concurrency` workers each claim, embed and store
        their own batches, and claims never overlap. A provider outage stops
        every worker after its current batch, and the counts record what was
        done.
        """
        started = time.perf_counter()
        counts = EmbeddingCounts()
        run = _RunState(project_id, max_chunks)
        workers = max(1, self._policy.concurrency)
        async with asyncio.TaskGroup() as group:
            for _ in range(workers):
                group.create_task(self._work(run, counts))
        async with self._pool.acquire() as conn:
            counts.remaining_pending = await repository.count_pending(conn, project_id)
        counts.duration_ms = (time.perf_counter() - started) * 1000
        log.info(
            "embeddings.run_finished",
            project_id=project_id,
            embedded=counts.embedded,
            failed=counts.failed,
            retried=counts.retried,
            batches=counts.batches,
            remaining_pending=counts.remaining_pending,
            duration_ms=round(counts.duration_ms),
        )
        return counts

    async def _work(self, run: _RunState, counts: EmbeddingCounts) -> None:
        """Claim and embed batches until none is due, the budget ends or a stop."""
        while not run.stopped:
            batch = await self._claim(run)
            if not batch:
                return
            counts.batches += 1
            if not await self._embed_batch(batch, counts):
                run.stopped = True

    async def _claim(self, run: _RunState) -> list[repository.ClaimedChunk]:
        size = run.reserve(self._policy.batch_size)
        if size == 0:
            return []
        async with self._pool.acquire() as conn:
            batch = await repository.claim_pending(
                conn,
                run.project_id,
                limit=size,
                worker=self._worker,
                stale_after_seconds=self._policy.claim_stale_seconds,
            )
        run.release(size - len(batch))
        return batch

    async def _embed_batch(
        self, batch: list[repository.ClaimedChunk], counts: EmbeddingCounts
    ) -> bool:
        """Embed one claimed batch; return False when the run should stop."""
        try:
            vectors = await self._provider.embed_passages(
                [chunk.text for chunk in batch]
            )
        except EmbeddingInputRejected as exc:
            await self._reject_one(batch, exc, counts)
            return True
        except EmbeddingProviderUnavailable as exc:
            await self._postpone(batch, exc, counts)
            return False
        except RagError as exc:
            await self._fail(batch, exc.message, counts)
            return False
        await self._store(batch, vectors, counts)
        return True

    async def _store(
        self,
        batch: list[repository.ClaimedChunk],
        vectors: list[list[float] | None],
        counts: EmbeddingCounts,
    ) -> None:
        ready = [
            (chunk.id, vector)
            for chunk, vector in zip(batch, vectors, strict=True)
            if vector is not None
        ]
        blank = [
            chunk.id
            for chunk, vector in zip(batch, vectors, strict=True)
            if vector is None
        ]
        async with self._pool.acquire() as conn, conn.transaction():
            if ready:
                await repository.store_embeddings(
                    conn,
                    [cid for cid, _ in ready],
                    [v for _, v in ready],
                    model=self._provider.model,
                    dimension=self._provider.dimension,
                    worker=self._worker,
                )
            if blank:
                await repository.mark_chunks(
                    conn, blank, status="skipped", error="blank text"
                )
        counts.embedded += len(ready)
        counts.skipped += len(blank)

    async def _reject_one(
        self,
        batch: list[repository.ClaimedChunk],
        exc: EmbeddingInputRejected,
        counts: EmbeddingCounts,
    ) -> None:
        index = exc.input_index if exc.input_index is not None else -1
        if not 0 <= index < len(batch):
            await self._fail(batch, exc.message, counts)
            return
        others = [chunk for i, chunk in enumerate(batch) if i != index]
        async with self._pool.acquire() as conn, conn.transaction():
            await repository.mark_chunks(
                conn, [batch[index].id], status="failed", error=exc.message
            )
            if others:
                await repository.mark_chunks(
                    conn, [c.id for c in others], status="pending", error=None
                )
        counts.failed += 1
        counts.errors.append(exc.message)
        log.warning(
            "embeddings.chunk_rejected",
            chunk_id=str(batch[index].id),
            error=exc.message,
        )

    async def _postpone(
        self,
        batch: list[repository.ClaimedChunk],
        exc: RagError,
        counts: EmbeddingCounts,
    ) -> None:
        exhausted = [c.id for c in batch if c.attempts >= self._policy.max_attempts]
        retry = [c.id for c in batch if c.attempts < self._policy.max_attempts]
        async with self._pool.acquire() as conn, conn.transaction():
            if exhausted:
                reason = (
                    f"gave up after {self._policy.max_attempts} attempts: {exc.message}"
                )
                await repository.mark_chunks(
                    conn, exhausted, status="failed", error=reason
                )
            if retry:
                await repository.mark_chunks(
                    conn,
                    retry,
                    status="pending",
                    error=exc.message,
                    retry_after_seconds=self._policy.retry_seconds,
                )
        counts.failed += len(exhausted)
        counts.retried += len(retry)
        counts.errors.append(exc.message)
        log.warning(
            "embeddings.batch_postponed",
            chunks=len(batch),
            failed=len(exhausted),
            error=exc.message,
        )

    async def _fail(
        self, batch: list[repository.ClaimedChunk], reason: str, counts: EmbeddingCounts
    ) -> None:
        async with self._pool.acquire() as conn:
            await repository.mark_chunks(
                conn, [c.id for c in batch], status="failed", error=reason
            )
        counts.failed += len(batch)
        counts.errors.append(reason)
        log.error("embeddings.batch_failed", chunks=len(batch), error=reason)
