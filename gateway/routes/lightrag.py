"""Embeddings runs, search with cited evidence, and index status."""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway import audit_trail
from gateway.routes.common import clients_of, timeout_of, to_json
from gateway.security import ProjectSessionDep, user_metadata
from gen.rag.v1 import rag_pb2 as pb

router = APIRouter(tags=["lightrag"])


class QueryBody(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    limit: int = Field(default=8, ge=1, le=50)
    source_types: list[str] = Field(default_factory=list, max_length=10)
    mode: Literal["hybrid", "vector", "fulltext"] = "hybrid"


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query_run_id: uuid.UUID
    rating: Annotated[int, Field(strict=True, ge=1, le=5)]
    comment: str = Field(default="", max_length=2000)


class EmbeddingsBody(BaseModel):
    max_chunks: int = Field(default=0, ge=0)


@router.post("/jobs/embeddings/run")
async def run_embeddings(
    session: ProjectSessionDep, request: Request, body: EmbeddingsBody | None = None
) -> dict[str, Any]:
    """Index pending changes, embed every pending chunk in batches and report counts."""
    result = await clients_of(request).rag.RunEmbeddings(
        pb.RunEmbeddingsRequest(max_chunks=(body or EmbeddingsBody()).max_chunks),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request, long=True),
    )
    return to_json(result)


@router.post("/lightrag/query")
@router.post("/search")
async def query(
    body: QueryBody, session: ProjectSessionDep, request: Request
) -> dict[str, Any]:
    """Answer a question with numbered citations and the evidence behind them."""
    result = await clients_of(request).rag.Query(
        pb.QueryRequest(
            question=body.question,
            limit=body.limit,
            source_types=body.source_types,
            mode=body.mode,
        ),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    audit_trail.add_details(request, query_run_id=result.query_run_id)
    if result.status == "degraded":
        audit_trail.mark_warning(request)
    return to_json(result)


@router.post("/lightrag/feedback")
async def feedback(
    body: FeedbackBody, session: ProjectSessionDep, request: Request
) -> dict[str, Any]:
    """Rate a query run of the active project. A second rating replaces the first."""
    query_run_id = str(body.query_run_id)
    audit_trail.add_details(request, query_run_id=query_run_id)
    stored = await clients_of(request).rag.SubmitFeedback(
        pb.SubmitFeedbackRequest(
            query_run_id=query_run_id, rating=body.rating, comment=body.comment
        ),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return to_json(stored)


@router.get("/lightrag/status")
async def status(session: ProjectSessionDep, request: Request) -> dict[str, Any]:
    """Return chunk counts by embedding status, source counts, model and dimension."""
    result = await clients_of(request).rag.GetStatus(
        pb.GetStatusRequest(),
        metadata=user_metadata(request, session),
        timeout=timeout_of(request),
    )
    return to_json(result)
