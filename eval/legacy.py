"""The ranking of the system the RAG service replaced, rebuilt for comparison.

The old search took the union of chunks whose text contained a word of the
question (`ILIKE`) and the nearest chunks by vector, and scored each chunk as

    0.6 * cosine similarity + 0.2 * recency + 0.2 * source weight

where recency halves every 7 days of document age. A chunk without a vector
(the old system embedded only Chatwoot messages) has similarity 0. A source
record takes the score of its best chunk.
"""

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import numpy as np

from services.common.database import Connection
from services.rag import repository

SIMILARITY_WEIGHT = 0.6
RECENCY_WEIGHT = 0.2
SOURCE_WEIGHT = 0.2
RECENCY_HALF_LIFE_DAYS = 7.0
# NOTE: the old system's weight per source type is not recorded in this
# repository, so these values are an estimate. Every document of the current
# evaluation set is a conversation, so the term is the same for all of them.
SOURCE_TYPE_WEIGHTS = {
    "chatwoot_conversation": 1.0,
    "linear_issue": 0.7,
    "attio_deal": 0.5,
}
# Shorter words ("the", "и", "на") would match almost every chunk.
MIN_KEYWORD_CHARS = 4
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class LegacyHit:
    external_id: str
    score: float


def keyword_patterns(question: str) -> list[str]:
    """Return one ILIKE pattern per distinct word of the question, escaped."""
    words = {w.lower() for w in _WORD.findall(question) if len(w) >= MIN_KEYWORD_CHARS}
    escaped = (re.sub(r"([\\%_])", r"\\\1", word) for word in sorted(words))
    return [f"%{word}%" for word in escaped]


def recency(updated_at: datetime | None, reference_time: datetime) -> float:
    """Return 0.5 ** (age in days / 7), 1.0 for a document updated at reference."""
    if updated_at is None:
        return 0.0
    age_days = max((reference_time - updated_at).total_seconds(), 0.0) / 86400
    return float(0.5 ** (age_days / RECENCY_HALF_LIFE_DAYS))


async def legacy_search(
    pool: asyncpg.Pool,
    project_id: str,
    query_vector: Sequence[float],
    question: str,
    *,
    model: str,
    dimension: int,
    candidates: int,
    ef_search: int,
    reference_time: datetime,
    limit: int,
) -> list[LegacyHit]:
    """Rank source records by the old weighted score, best first."""
    async with pool.acquire() as conn, conn.transaction():
        vector_hits = await repository.vector_search(
            conn,
            project_id,
            query_vector,
            model=model,
            dimension=dimension,
            limit=candidates,
            source_types=(),
            ef_search=ef_search,
        )
    chunk_ids = {hit.chunk_id for hit in vector_hits}
    patterns = keyword_patterns(question)
    async with pool.acquire() as conn:
        if patterns:
            chunk_ids |= set(
                await _keyword_chunk_ids(conn, project_id, patterns, candidates)
            )
        rows = await _chunk_features(conn, list(chunk_ids), query_vector, dimension)
    best: dict[str, float] = {}
    for row in rows:
        weight = SOURCE_TYPE_WEIGHTS.get(row["source_type"], 0.0)
        score = (
            SIMILARITY_WEIGHT * float(row["similarity"])
            + RECENCY_WEIGHT * recency(row["source_updated_at"], reference_time)
            + SOURCE_WEIGHT * weight
        )
        external_id = row["external_id"]
        best[external_id] = max(score, best.get(external_id, score))
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    return [LegacyHit(external_id, score) for external_id, score in ranked[:limit]]


async def _keyword_chunk_ids(
    conn: Connection, project_id: str, patterns: list[str], limit: int
) -> list[uuid.UUID]:
    # ILIKE gives no rank. Keeping the newest documents' matches is an assumption
    # about the old system.
    rows = await conn.fetch(
        "SELECT c.id FROM rag.rag_chunks c JOIN rag.rag_documents d"
        " USING (project_id, source_type, external_id)"
        " WHERE c.project_id = $1 AND c.text ILIKE ANY($2::text[])"
        " ORDER BY d.source_updated_at DESC, c.id LIMIT $3",
        uuid.UUID(project_id),
        patterns,
        limit,
    )
    return [row["id"] for row in rows]


async def _chunk_features(
    conn: Connection,
    chunk_ids: list[uuid.UUID],
    query_vector: Sequence[float],
    dimension: int,
) -> list[asyncpg.Record]:
    dim = int(dimension)
    return list(
        await conn.fetch(
            "SELECT c.source_type, c.external_id, d.source_updated_at,"
            f" coalesce(1 - (c.embedding::vector({dim}) <=> $2::vector({dim})), 0)"
            " AS similarity"
            " FROM rag.rag_chunks c JOIN rag.rag_documents d"
            " USING (project_id, source_type, external_id)"
            " WHERE c.id = ANY($1::uuid[])",
            chunk_ids,
            np.asarray(query_vector, dtype=np.float32),
        )
    )
