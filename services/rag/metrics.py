"""The RAG service's figures: chunks by embedding status, queries and latency."""

import asyncpg
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.metrics_core import Metric

from services.common.database import Connection
from services.common.metrics import Gather

# Upper bounds, in seconds, of the query latency buckets.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def gather_for(pool: asyncpg.Pool) -> Gather:
    """Return the function that computes the RAG figures from the database."""

    async def gather() -> list[Metric]:
        chunks = GaugeMetricFamily(
            "rag_chunks",
            "Chunks by embedding status (pending, processing, ready, failed).",
            labels=["status"],
        )
        queries = CounterMetricFamily(
            "lightrag_queries",
            "Search queries answered, by status (ok, degraded, failed).",
            labels=["status"],
        )
        async with pool.acquire() as conn:
            for row in await conn.fetch(
                "SELECT embedding_status AS status, count(*) AS n FROM rag.rag_chunks"
                " GROUP BY 1 ORDER BY 1"
            ):
                chunks.add_metric([row["status"]], row["n"])
            for row in await conn.fetch(
                "SELECT status, count(*) AS n FROM rag.lightrag_query_runs"
                " GROUP BY 1 ORDER BY 1"
            ):
                queries.add_metric([row["status"]], row["n"])
            latency = await _latency(conn)
        return [chunks, queries, latency]

    return gather


async def _latency(conn: Connection) -> HistogramMetricFamily:
    totals = await conn.fetchrow(
        "SELECT count(*) AS n, coalesce(sum(duration_ms), 0) AS total"
        " FROM rag.lightrag_query_runs"
    )
    assert totals is not None
    rows = await conn.fetch(
        "SELECT b.bound, count(q.id) AS n FROM unnest($1::float8[]) AS b(bound)"
        " LEFT JOIN rag.lightrag_query_runs q ON q.duration_ms <= b.bound"
        " GROUP BY b.bound ORDER BY b.bound",
        [bound * 1000 for bound in LATENCY_BUCKETS],
    )
    buckets = [
        (str(bound), row["n"]) for bound, row in zip(LATENCY_BUCKETS, rows, strict=True)
    ]
    buckets.append(("+Inf", totals["n"]))
    return HistogramMetricFamily(
        "lightrag_query_duration_seconds",
        "Time to answer a search query, failed ones included.",
        buckets=buckets,
        sum_value=totals["total"] / 1000,
    )
