"""Recall@k and nDCG@k of four retrieval methods over an indexed evaluation set.

Every method ranks source records (conversations), not chunks, as the query
service cites them. Relevance is binary: a record is relevant when its
external id is in the question's `relevant` set.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from eval.dataset import Question
from eval.legacy import legacy_search
from services.rag.embedding import EmbeddingProvider
from services.rag.retrieval import HybridSearch, SearchRequest, validate

K = 10
# The rag service's defaults (RagSettings.search_candidates, hnsw_ef_search
# and search_max_limit), so each leg reads as many candidates as in production.
CANDIDATES = 50
EF_SEARCH = 100
MAX_LIMIT = 50

METHODS = ("vector", "fulltext", "hybrid", "legacy")


def recall_at_k(ranked: Sequence[str], relevant: frozenset[str], k: int = K) -> float:
    """Return the share of relevant records found in the first k results."""
    if not relevant:
        raise ValueError("a question needs at least one relevant record")
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: frozenset[str], k: int = K) -> float:
    """Return binary-gain nDCG of the first k results, from 0 to 1."""
    if not relevant:
        raise ValueError("a question needs at least one relevant record")
    dcg = sum(
        1.0 / math.log2(position + 1)
        for position, external_id in enumerate(ranked[:k], start=1)
        if external_id in relevant
    )
    ideal = sum(
        1.0 / math.log2(position + 1)
        for position in range(1, min(len(relevant), k) + 1)
    )
    return dcg / ideal


@dataclass
class MethodScore:
    """Summed metrics of one method over a group of questions."""

    questions: int = 0
    recall_sum: float = 0.0
    ndcg_sum: float = 0.0

    def add(self, ranked: Sequence[str], relevant: frozenset[str]) -> None:
        self.questions += 1
        self.recall_sum += recall_at_k(ranked, relevant)
        self.ndcg_sum += ndcg_at_k(ranked, relevant)

    @property
    def recall(self) -> float:
        return self.recall_sum / self.questions if self.questions else 0.0

    @property
    def ndcg(self) -> float:
        return self.ndcg_sum / self.questions if self.questions else 0.0


@dataclass
class Report:
    """Scores per method, over all questions and per question group."""

    overall: dict[str, MethodScore] = field(default_factory=dict)
    by_group: dict[str, dict[str, MethodScore]] = field(default_factory=dict)

    def add(
        self, method: str, group: str, ranked: Sequence[str], relevant: frozenset[str]
    ) -> None:
        self.overall.setdefault(method, MethodScore()).add(ranked, relevant)
        groups = self.by_group.setdefault(group, {})
        groups.setdefault(method, MethodScore()).add(ranked, relevant)


async def score_methods(
    pool: asyncpg.Pool,
    provider: EmbeddingProvider,
    project_id: str,
    questions: Sequence[Question],
    *,
    reference_time: datetime,
) -> Report:
    """Ask every question with each method and sum the metrics of the top K."""
    search = HybridSearch(pool, provider, candidates=CANDIDATES, ef_search=EF_SEARCH)
    report = Report()
    for question in questions:
        for mode in ("vector", "fulltext", "hybrid"):
            # validate() strips the question, as the query service does first.
            request = validate(SearchRequest(question.text, K, (), mode), MAX_LIMIT)
            result = await search.search(project_id, request)
            if not result.vector_available:
                raise RuntimeError(
                    f"vector search failed: {result.vector_unavailable_reason}"
                )
            ranked = [source.hit.external_id for source in result.sources]
            report.add(mode, question.group, ranked, question.relevant)
        query_vector = await provider.embed_query(question.text)
        hits = await legacy_search(
            pool,
            project_id,
            query_vector,
            question.text,
            model=provider.model,
            dimension=provider.dimension,
            candidates=CANDIDATES,
            ef_search=EF_SEARCH,
            reference_time=reference_time,
            limit=K,
        )
        ranked = [hit.external_id for hit in hits]
        report.add("legacy", question.group, ranked, question.relevant)
    return report


def format_report(report: Report) -> str:
    """Render the overall table, then one table per question group."""
    sections = [_format_table("all questions", report.overall)]
    for group, scores in sorted(report.by_group.items()):
        sections.append(_format_table(group, scores))
    return "\n\n".join(sections) + "\n"


def _format_table(title: str, scores: dict[str, MethodScore]) -> str:
    lines = [
        title,
        f"{'method':<10} {'recall@10':>10} {'nDCG@10':>9} {'questions':>10}",
    ]
    for method in METHODS:
        score = scores.get(method, MethodScore())
        lines.append(
            f"{method:<10} {score.recall:>10.3f} {score.ndcg:>9.3f}"
            f" {score.questions:>10}"
        )
    return "\n".join(lines)
