"""Answering questions: hybrid search, a cited answer and a query run record."""

import re
import time
from dataclasses import dataclass, replace

import asyncpg
import structlog
from openai import AsyncOpenAI

from services.common.errors import DomainError
from services.common.internal_auth import Principal
from services.common.telemetry import current_trace_id
from services.common.text import strip_nul
from services.rag import repository
from services.rag.answer import (
    Answer,
    EvidenceItem,
    build_extractive_answer,
    build_llm_answer,
)
from services.rag.errors import AnswerProviderUnavailable
from services.rag.evidence_client import (
    MAX_REFS_PER_CALL,
    EvidenceClient,
    SourceCheckFailed,
)
from services.rag.retrieval import (
    HybridSearch,
    RankedSource,
    SearchRequest,
    SearchResult,
    validate,
)

log = structlog.get_logger(__name__)

CITED_SENTENCE = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class QueryOutcome:
    answer: Answer
    evidence: list[EvidenceItem]
    matched_by: list[list[str]]
    result: SearchResult
    quality_score: float
    query_run_id: str
    trace_id: str
    # ok, or degraded when the vector leg failed and only full-text search ran.
    status: str = "ok"
    # False when the connectors service was not called or did not respond, so
    # the evidence may cite sources deleted since they were indexed.
    evidence_checked: bool = False


@dataclass(frozen=True)
class LlmAnswers:
    client: AsyncOpenAI
    model: str


class QueryService:
    """Answers questions for a project and records every query, failed ones too."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        search: HybridSearch,
        llm: LlmAnswers | None,
        max_limit: int,
        evidence: EvidenceClient | None = None,
    ) -> None:
        self._pool = pool
        self._search = search
        self._llm = llm
        self._max_limit = max_limit
        self._evidence = evidence

    async def answer(self, caller: Principal, request: SearchRequest) -> QueryOutcome:
        """Search, build a cited answer and store the query run."""
        project_id = caller.require_project()
        started = time.perf_counter()
        # Postgres text cannot hold NUL, and the question is stored with the run.
        request = replace(request, question=strip_nul(request.question))
        try:
            request = validate(request, self._max_limit)
            result = await self._search.search(project_id, request)
            result, checked = await self._check_sources(caller, result, request.limit)
            evidence = [
                _evidence(number, source)
                for number, source in enumerate(result.sources, 1)
            ]
            answer = await self._build_answer(request.question, evidence)
        except DomainError as exc:
            await self._record_failure(caller, request, started, exc.code, exc.message)
            raise
        except Exception as exc:
            await self._record_failure(
                caller, request, started, "internal", type(exc).__name__
            )
            raise
        status = "ok" if result.vector_available else "degraded"
        run_id = await self._record(
            caller, request, started, status, result, answer, len(evidence)
        )
        return QueryOutcome(
            answer=answer,
            evidence=evidence,
            matched_by=[sorted(source.matched_by) for source in result.sources],
            result=result,
            quality_score=citation_coverage(answer.text),
            query_run_id=run_id,
            trace_id=current_trace_id(),
            status=status,
            evidence_checked=checked,
        )

    async def _check_sources(
        self, caller: Principal, result: SearchResult, limit: int
    ) -> tuple[SearchResult, bool]:
        """Drop deleted sources and refresh titles and URLs from the connectors service.

        Sources from the reserve move up in place of dropped ones. When the
        connectors service fails or times out, the result comes back unchanged
        and the flag is False.
        """
        if self._evidence is None or not result.sources:
            return result, False
        # NOTE: with search_max_limit above MAX_REFS_PER_CALL a large query has
        # more sources than one call accepts, so its check fails and is skipped.
        spare = max(MAX_REFS_PER_CALL - len(result.sources), 0)
        candidates = result.sources + result.reserve[:spare]
        keys = [(s.hit.source_type, s.hit.external_id) for s in candidates]
        try:
            states = await self._evidence.get_states(caller, keys)
        except SourceCheckFailed as exc:
            log.warning(
                "query.evidence_check_failed",
                project_id=caller.project_id,
                code=exc.code,
                error=exc.details,
                sources=len(keys),
            )
            return replace(result, reserve=[]), False
        kept: list[RankedSource] = []
        dropped = 0
        for source in candidates:
            if len(kept) == limit:
                break
            state = states.get((source.hit.source_type, source.hit.external_id))
            if state is not None and state.deleted:
                dropped += 1
                continue
            if state is not None and state.found:
                hit = replace(source.hit, title=state.title, url=state.url)
                source = RankedSource(hit, source.score, source.matched_by)
            kept.append(source)
        if dropped:
            log.debug(
                "query.deleted_sources_dropped",
                project_id=caller.project_id,
                dropped=dropped,
            )
        return replace(result, sources=kept, reserve=[]), True

    async def _build_answer(
        self, question: str, evidence: list[EvidenceItem]
    ) -> Answer:
        if self._llm is not None and evidence:
            try:
                return await build_llm_answer(
                    self._llm.client, self._llm.model, question, evidence
                )
            except AnswerProviderUnavailable as exc:
                log.warning("query.answer_fallback", error=exc.message)
        return build_extractive_answer(question, evidence)

    async def _record(
        self,
        caller: Principal,
        request: SearchRequest,
        started: float,
        status: str,
        result: SearchResult,
        answer: Answer,
        evidence_count: int,
    ) -> str:
        async with self._pool.acquire() as conn:
            return await repository.insert_query_run(
                conn,
                project_id=caller.project_id,
                user_id=caller.user_id,
                question=request.question,
                mode=request.mode,
                status=status,
                duration_ms=(time.perf_counter() - started) * 1000,
                trace_id=current_trace_id(),
                request_id=caller.request_id,
                evidence_count=evidence_count,
                vector_available=result.vector_available,
                answer_method=answer.method,
                error=result.vector_unavailable_reason or None,
            )

    async def _record_failure(
        self,
        caller: Principal,
        request: SearchRequest,
        started: float,
        code: str,
        error: str,
    ) -> None:
        async with self._pool.acquire() as conn:
            await repository.insert_query_run(
                conn,
                project_id=caller.project_id,
                user_id=caller.user_id,
                question=request.question[:2000],
                mode=request.mode,
                status="failed",
                duration_ms=(time.perf_counter() - started) * 1000,
                trace_id=current_trace_id(),
                request_id=caller.request_id,
                error_code=code,
                error=error,
            )


def citation_coverage(text: str) -> float:
    """Return the share of the answer's sentences that carry a citation."""
    sentences = [s for s in re.split(r"(?<=[.!?\]])\s+", text.strip()) if s]
    if not sentences:
        return 0.0
    cited = sum(1 for sentence in sentences if CITED_SENTENCE.search(sentence))
    return round(cited / len(sentences), 3)


def _evidence(number: int, source: RankedSource) -> EvidenceItem:
    hit = source.hit
    return EvidenceItem(
        number=number,
        chunk_id=str(hit.chunk_id),
        source_type=hit.source_type,
        external_id=hit.external_id,
        title=hit.title,
        text=hit.text,
        score=round(source.score, 6),
    )
