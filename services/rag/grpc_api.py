"""gRPC servicer of the RAG service: proto in, domain call, proto out."""

from __future__ import annotations

from typing import Any

import asyncpg
import grpc

from gen.rag.v1 import rag_pb2 as pb
from gen.rag.v1 import rag_pb2_grpc
from services.common.internal_auth import current_principal
from services.common.protos import timestamp
from services.rag import repository
from services.rag.embedding import EmbeddingProvider
from services.rag.embedding_job import EmbeddingJob
from services.rag.feedback import submit_feedback
from services.rag.indexing import IndexCounts, Indexer
from services.rag.query import QueryOutcome, QueryService
from services.rag.retrieval import SearchRequest


class RagServicer(rag_pb2_grpc.RagServiceServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        indexer: Indexer,
        embeddings: EmbeddingJob,
        queries: QueryService,
        provider: EmbeddingProvider,
        default_limit: int,
    ) -> None:
        self._pool = pool
        self._indexer = indexer
        self._embeddings = embeddings
        self._queries = queries
        self._provider = provider
        self._default_limit = default_limit

    async def IndexChanges(
        self,
        request: pb.IndexChangesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.IndexChangesResponse:
        """Index the caller's project's changed documents."""
        principal = current_principal()
        principal.require_role("member")
        return _index_to_proto(await self._indexer.index_changes(principal))

    async def RunEmbeddings(
        self,
        request: pb.RunEmbeddingsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.RunEmbeddingsResponse:
        """Index pending changes, then embed the project's pending chunks."""
        principal = current_principal()
        principal.require_role("member")
        indexing = await self._indexer.index_changes(principal)
        counts = await self._embeddings.run(
            principal.require_project(), request.max_chunks
        )
        return pb.RunEmbeddingsResponse(
            indexing=_index_to_proto(indexing),
            embedded=counts.embedded,
            failed=counts.failed,
            retried=counts.retried,
            batches=counts.batches,
            remaining_pending=counts.remaining_pending,
            duration_ms=counts.duration_ms,
            embedding_model=self._provider.model,
            embedding_dimension=self._provider.dimension,
        )

    async def Query(
        self, request: pb.QueryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.QueryResponse:
        """Answer a question with hybrid retrieval and numbered citations."""
        principal = current_principal()
        principal.require_role("member")
        search = SearchRequest(
            question=request.question,
            limit=request.limit or self._default_limit,
            source_types=tuple(request.source_types),
            mode=request.mode or "hybrid",
        )
        return _query_to_proto(await self._queries.answer(principal, search))

    async def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetStatusResponse:
        """Return chunk counts by status, document counts, model and dimension."""
        project_id = current_principal().require_project()
        async with self._pool.acquire() as conn:
            chunks = await repository.chunk_status_counts(conn, project_id)
            documents = await repository.document_counts(conn, project_id)
            sequence = await repository.load_index_cursor(conn, project_id)
        return pb.GetStatusResponse(
            chunks_by_status=chunks,
            documents_by_source=documents,
            embedding_model=self._provider.model,
            embedding_dimension=self._provider.dimension,
            index_sequence=sequence,
        )

    async def SubmitFeedback(
        self,
        request: pb.SubmitFeedbackRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.Feedback:
        """Store the caller's rating of a query run of the same project."""
        principal = current_principal()
        principal.require_role("member")
        stored = await submit_feedback(
            self._pool,
            principal,
            query_run_id=request.query_run_id,
            rating=request.rating,
            comment=request.comment,
        )
        return pb.Feedback(
            query_run_id=stored.query_run_id,
            project_id=stored.project_id,
            user_id=stored.user_id,
            rating=stored.rating,
            comment=stored.comment,
            created_at=timestamp(stored.created_at),
        )


def _index_to_proto(counts: IndexCounts) -> pb.IndexChangesResponse:
    return pb.IndexChangesResponse(
        documents=counts.documents,
        chunks_created=counts.chunks_created,
        chunks_unchanged=counts.chunks_unchanged,
        chunks_deleted=counts.chunks_deleted,
        sequence=counts.sequence,
    )


def _query_to_proto(outcome: QueryOutcome) -> pb.QueryResponse:
    result = outcome.result
    evidence = [
        pb.Evidence(
            number=item.number,
            chunk_id=item.chunk_id,
            source_type=item.source_type,
            external_id=item.external_id,
            title=item.title,
            url=source.hit.url,
            text=item.text,
            score=item.score,
            matched_by=matched,
            chunk_index=source.hit.chunk_index,
            rank=item.number,
        )
        for item, source, matched in zip(
            outcome.evidence, result.sources, outcome.matched_by, strict=True
        )
    ]
    by_number = {item.number: item for item in outcome.evidence}
    citations = [
        pb.Citation(
            number=n,
            chunk_id=by_number[n].chunk_id,
            source_type=by_number[n].source_type,
            external_id=by_number[n].external_id,
            title=by_number[n].title,
        )
        for n in outcome.answer.citations
        if n in by_number
    ]
    return pb.QueryResponse(
        answer=outcome.answer.text,
        citations=citations,
        evidence=evidence,
        stats=pb.QueryStats(
            vector_hits=result.vector_hits,
            fulltext_hits=result.fulltext_hits,
            vector_available=result.vector_available,
            vector_unavailable_reason=result.vector_unavailable_reason,
            duration_ms=result.duration_ms,
            answer_method=outcome.answer.method,
        ),
        quality_score=outcome.quality_score,
        query_run_id=outcome.query_run_id,
        trace_id=outcome.trace_id,
        status=outcome.status,
    )
