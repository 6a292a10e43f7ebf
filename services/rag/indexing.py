"""Turning the change feed into chunks.

Concurrency: one indexer per project at a time, held by a Postgres advisory
lock, so replicas never interleave pages of the same project. Each feed page
is written in one transaction together with the advanced cursor, so a crash
repeats at most one page, and repeating it changes nothing.
"""

from dataclasses import dataclass

import asyncpg
import structlog

from services.common.internal_auth import Principal
from services.rag import repository
from services.rag.chunking import Tokenizer, split_into_chunks
from services.rag.documents import SourceDocument
from services.rag.feed_client import FeedClient

log = structlog.get_logger(__name__)


@dataclass
class IndexCounts:
    documents: int = 0
    chunks_created: int = 0
    chunks_unchanged: int = 0
    chunks_deleted: int = 0
    sequence: int = 0


@dataclass(frozen=True)
class ChunkSizes:
    max_tokens: int
    overlap_tokens: int


class Indexer:
    """Reads a project's changed documents and stores their chunks as pending."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        feed: FeedClient,
        tokenizer: Tokenizer,
        sizes: ChunkSizes,
        page_size: int,
    ) -> None:
        self._pool = pool
        self._feed = feed
        self._tokenizer = tokenizer
        self._sizes = sizes
        self._page_size = page_size

    async def index_changes(self, caller: Principal) -> IndexCounts:
        """Index every change of the caller's project since the saved cursor."""
        project_id = caller.require_project()
        counts = IndexCounts()
        async with self._pool.acquire() as lock_conn:
            await lock_conn.execute(
                "SELECT pg_advisory_lock(hashtext('rag-index:' || $1))", project_id
            )
            try:
                after = await repository.load_index_cursor(lock_conn, project_id)
                counts.sequence = after
                async for documents, last_sequence in self._feed.iter_pages(
                    caller, after, self._page_size
                ):
                    await self._write_page(project_id, documents, last_sequence, counts)
            finally:
                await lock_conn.execute(
                    "SELECT pg_advisory_unlock(hashtext('rag-index:' || $1))",
                    project_id,
                )
        if counts.documents:
            log.info(
                "index.documents_indexed", project_id=project_id, **counts.__dict__
            )
        return counts

    async def _write_page(
        self,
        project_id: str,
        documents: list[SourceDocument],
        last_sequence: int,
        counts: IndexCounts,
    ) -> None:
        prepared = [(doc, self._chunks_of(doc)) for doc in documents]
        async with self._pool.acquire() as conn, conn.transaction():
            for document, chunks in prepared:
                result = await repository.replace_chunks(
                    conn, project_id, document.source_type, document.external_id, chunks
                )
                await repository.upsert_document(
                    conn,
                    project_id,
                    source_type=document.source_type,
                    external_id=document.external_id,
                    title=document.title,
                    url=document.url,
                    updated_at=document.updated_at,
                    sequence=last_sequence,
                    chunk_count=len(chunks),
                    deleted=document.deleted,
                )
                counts.documents += 1
                counts.chunks_created += result.created + result.changed
                counts.chunks_unchanged += result.unchanged
                counts.chunks_deleted += result.deleted
            await repository.save_index_cursor(conn, project_id, last_sequence)
        counts.sequence = last_sequence

    def _chunks_of(self, document: SourceDocument) -> list:  # type: ignore[type-arg]
        if document.deleted:
            return []
        return split_into_chunks(
            document,
            self._tokenizer,
            max_tokens=self._sizes.max_tokens,
            overlap_tokens=self._sizes.overlap_tokens,
        )
