"""Index an evaluation set with the RAG service's own indexer and embeddings job."""

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
from pgvector.asyncpg import register_vector

from services.common.internal_auth import Principal
from services.common.migrations import apply_migrations
from services.rag.chunking import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS
from services.rag.documents import SourceDocument
from services.rag.embedding import EmbeddingProvider
from services.rag.embedding_job import EmbeddingCounts, EmbeddingJob, EmbeddingPolicy
from services.rag.indexing import ChunkSizes, IndexCounts, Indexer

RAG_MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "rag" / "migrations"
FEED_PAGE_SIZE = 200
# The service's defaults (RagSettings), so the job behaves as in production.
EMBEDDING_POLICY = EmbeddingPolicy(
    batch_size=32, max_attempts=3, retry_seconds=30.0, claim_stale_seconds=600.0
)


class StaticFeed:
    """A change feed that serves a fixed list of documents in pages.

    It replaces the connectors service's ReadChanges, which `Indexer`
    reads through `FeedClient.iter_pages`.
    """

    def __init__(self, documents: Sequence[SourceDocument]) -> None:
        self._documents = list(documents)

    async def iter_pages(
        self, caller: Principal, after_sequence: int, page_size: int
    ) -> AsyncIterator[tuple[list[SourceDocument], int]]:
        """Yield pages after `after_sequence`; a document's sequence is its position."""
        start = after_sequence
        while start < len(self._documents):
            page = self._documents[start : start + page_size]
            start += len(page)
            yield page, start


async def open_rag_pool(dsn: str) -> asyncpg.Pool:
    """Apply the rag schema's migrations to the database and open a pool on it."""
    conn = await asyncpg.connect(dsn)
    try:
        await apply_migrations(conn, "rag", RAG_MIGRATIONS)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, init=register_vector)
    assert pool is not None
    return pool


async def index_documents(
    pool: asyncpg.Pool,
    provider: EmbeddingProvider,
    project_id: str,
    documents: Sequence[SourceDocument],
) -> tuple[IndexCounts, EmbeddingCounts]:
    """Chunk, store and embed the documents as the rag service's jobs do.

    Raises RuntimeError when a chunk is left without a vector, because the
    figures would then measure a partial index.
    """
    caller = Principal(subject="eval", kind="service", project_id=project_id)
    sizes = ChunkSizes(DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS)
    indexer = Indexer(
        pool,
        StaticFeed(documents),  # type: ignore[arg-type]
        provider.tokenizer,
        sizes,
        FEED_PAGE_SIZE,
    )
    index_counts = await indexer.index_changes(caller)
    embedding_counts = await EmbeddingJob(pool, provider, EMBEDDING_POLICY).run(
        project_id
    )
    if embedding_counts.failed or embedding_counts.remaining_pending:
        raise RuntimeError(
            f"embedding left {embedding_counts.failed} chunks failed and"
            f" {embedding_counts.remaining_pending} pending: {embedding_counts.errors}"
        )
    return index_counts, embedding_counts
