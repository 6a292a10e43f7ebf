"""Hybrid retrieval speed and vector recall of the RAG service at 100k and 1M chunks.

Chunks are loaded into the real rag schema by bench/retrieval_data.py. Each
query runs through the product's HybridSearch (vector and full-text legs,
fusion) without answer generation. The embedding provider is a test double
that returns a precomputed vector per question, so model time is left out.
Recall@10 compares the product's vector_search, run with the product's
settings, to an exact scan with the same project filter. Run with

    .venv/bin/python -m bench.retrieval [--chunks 100000] [--queries 300]

The embedded Postgres lives under var/bench/retrieval; loaded databases are
kept there and reused while the chunk count and migrations stay the same.
The query plans of both legs on the largest project are written next to it.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from bench.results import Figure, Section, percentile
from bench.retrieval_data import (
    DIM,
    MODEL,
    PROJECT_SHARES,
    PROJECTS,
    LoadTimes,
    Query,
    make_queries,
    prepare_database,
)
from services.common.database import start_embedded_postgres, stop_embedded_postgres
from services.rag import repository
from services.rag.chunking import Tokenizer, Utf8ByteBound
from services.rag.retrieval import HybridSearch, SearchRequest
from services.rag.settings import RagSettings

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "var" / "bench" / "retrieval"
SEED = 7
RECALL_AT = 10
SERVER_SETTINGS = {"shared_buffers": "4GB", "effective_cache_size": "12GB"}
# Projects whose recall is measured: the largest, a middle one and the smallest.
RECALL_PROJECTS = (0, 2, 9)
# ef_search values and max_scan_tuples limits tried besides the product's.
EF_SEARCH_SWEEP = (50, 200, 400)
MAX_SCAN_TUPLES_SWEEP = (100_000,)


class StoredVectorProvider:
    """Embedding provider double that returns a stored vector per question."""

    model = MODEL
    dimension = DIM
    max_batch_size = 32

    def __init__(self, queries: Sequence[Query]) -> None:
        self._vectors = {query.question: query.vector for query in queries}

    @property
    def tokenizer(self) -> Tokenizer:
        return Utf8ByteBound()

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float] | None]:
        raise NotImplementedError("the retrieval benchmark embeds no passages")

    async def embed_query(self, text: str) -> list[float]:
        return list(self._vectors[text].tolist())


async def _latencies(
    search: HybridSearch, queries: Sequence[Query], clients: int, mode: str
) -> list[float]:
    """Run every query once over `clients` concurrent callers; return ms each."""
    pending = iter(queries)
    durations: list[float] = []

    async def client() -> None:
        for query in pending:
            request = SearchRequest(query.question, limit=8, mode=mode)
            started = time.perf_counter()
            await search.search(query.project, request)
            durations.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client() for _ in range(clients)))
    return durations


async def _exact_ids(conn: Any, query: Query) -> set[uuid.UUID]:
    """Return the true nearest chunks of the query's project, without the index."""
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_indexscan = off")
        rows = await conn.fetch(
            f"SELECT id FROM rag.rag_chunks WHERE project_id = $1"
            f" AND embedding_dim = {DIM} AND embedding_model = $3"
            " AND embedding_status = 'ready'"
            f" ORDER BY embedding::vector({DIM}) <=> $2::vector({DIM}) LIMIT $4",
            uuid.UUID(query.project),
            query.vector,
            MODEL,
            RECALL_AT,
        )
    return {row["id"] for row in rows}


async def _recall(
    pool: asyncpg.Pool,
    queries: Sequence[Query],
    exact: Sequence[set[uuid.UUID]],
    *,
    ef_search: int,
    max_scan_tuples: int | None = None,
) -> list[float]:
    """Return recall@10 per query of the product's vector_search call."""
    settings = RagSettings()
    recalls = []
    async with pool.acquire() as conn:
        for query, truth in zip(queries, exact, strict=True):
            async with conn.transaction():
                if max_scan_tuples is not None:
                    await conn.execute(
                        f"SET LOCAL hnsw.max_scan_tuples = {int(max_scan_tuples)}"
                    )
                hits = await repository.vector_search(
                    conn,
                    query.project,
                    query.vector.tolist(),
                    model=MODEL,
                    dimension=DIM,
                    limit=settings.search_candidates,
                    source_types=[],
                    ef_search=max(ef_search, settings.search_candidates),
                )
            found = {hit.chunk_id for hit in hits[:RECALL_AT]}
            recalls.append(len(found & truth) / len(truth))
    return recalls


def _round_figures(
    name: str, rounds: list[list[float]], target: str = ""
) -> list[Figure]:
    return [
        Figure(f"{name} p50", "ms", [percentile(r, 0.50) for r in rounds]),
        Figure(f"{name} p95", "ms", [percentile(r, 0.95) for r in rounds], target),
    ]


async def _latency_figures(
    pool: asyncpg.Pool, queries: list[Query], chunks: int, rounds: int
) -> list[Figure]:
    settings = RagSettings()
    search = HybridSearch(
        pool,
        StoredVectorProvider(queries),
        candidates=settings.search_candidates,
        ef_search=settings.hnsw_ef_search,
    )
    target = "<= 50" if chunks == 100_000 else ""
    figures = []
    for label, clients, mode in (
        ("hybrid, 1 client", 1, "hybrid"),
        ("hybrid, 10 clients", 10, "hybrid"),
        ("vector leg, 1 client", 1, "vector"),
        ("full-text leg, 1 client", 1, "fulltext"),
    ):
        durations = []
        throughput = []
        for _ in range(rounds):
            started = time.perf_counter()
            durations.append(await _latencies(search, queries, clients, mode))
            throughput.append(len(queries) / (time.perf_counter() - started))
        targeted = clients == 1 and mode == "hybrid"
        figures += _round_figures(label, durations, target if targeted else "")
        if clients > 1:
            figures.append(Figure(f"{label} throughput", "queries/s", throughput))
        p95 = [percentile(r, 0.95) for r in durations]
        _print(f"{label}: p95 ms {_spread(p95)}")
    return figures


def _recall_cases(queries: list[Query]) -> list[tuple[str, list[Query]]]:
    """Group the recall queries by project size, plus off-topic questions.

    Off-topic query vectors come from centres no chunk was drawn around, as
    a question about something the project never discussed would.
    """
    cases = []
    for index in RECALL_PROJECTS:
        share = f"project with {PROJECT_SHARES[index]:.0%} of chunks"
        cases.append((share, [q for q in queries if q.project == PROJECTS[index]]))
    count = len(queries) // len(RECALL_PROJECTS)
    off_topic = make_queries(count, [PROJECTS[0]], SEED + 50, SEED + 3)
    cases.append((f"off-topic queries, {cases[0][0]}", off_topic))
    return cases


async def _recall_figures(
    pool: asyncpg.Pool, queries: list[Query], chunks: int
) -> tuple[list[Figure], list[str]]:
    """Measure recall@10 per case at the product settings and in a sweep."""
    ef_search = RagSettings().hnsw_ef_search
    figures: list[Figure] = []
    sweep: list[str] = []
    for label, cases in _recall_cases(queries):
        async with pool.acquire() as conn:
            exact = [await _exact_ids(conn, q) for q in cases]
        recalls = await _recall(pool, cases, exact, ef_search=ef_search)
        on_topic = not label.startswith("off-topic")
        target = ">= 0.95" if chunks == 100_000 and on_topic else ""
        note = f"{len(cases)} queries, ef_search {ef_search}"
        figures.append(
            Figure(f"recall@10, {label}", "ratio", _group_means(recalls), target, note)
        )
        sweep += await _sweep(pool, cases, exact, label)
        _print(f"recall@10 {label}: {statistics.mean(recalls):.3f}")
    return figures, sweep


async def _sweep(
    pool: asyncpg.Pool,
    queries: list[Query],
    exact: list[set[uuid.UUID]],
    share: str,
) -> list[str]:
    lines = []
    for ef_search in EF_SEARCH_SWEEP:
        recalls = await _recall(pool, queries, exact, ef_search=ef_search)
        lines.append(f"{share}, ef_search {ef_search}: {statistics.mean(recalls):.3f}")
    for limit in MAX_SCAN_TUPLES_SWEEP:
        recalls = await _recall(
            pool,
            queries,
            exact,
            ef_search=RagSettings().hnsw_ef_search,
            max_scan_tuples=limit,
        )
        lines.append(
            f"{share}, max_scan_tuples {limit}: {statistics.mean(recalls):.3f}"
        )
    for line in lines:
        _print(f"  sweep recall@10 {line}")
    return lines


def _group_means(values: list[float], groups: int = 5) -> list[float]:
    """Return the mean of each of `groups` consecutive slices, as samples."""
    parts = np.array_split(np.asarray(values), groups)
    return [float(part.mean()) for part in parts if len(part)]


def _load_figures(times: LoadTimes) -> list[Figure]:
    return [
        Figure("COPY of documents and chunks", "s", [times.copy_seconds]),
        Figure("GIN index build (search_tsv)", "s", [times.gin_seconds]),
        Figure("HNSW index build (384 dim)", "s", [times.hnsw_seconds]),
    ]


async def _measure(server: str, chunks: int, arguments: argparse.Namespace) -> Section:
    dsn, times = await prepare_database(server, chunks, SEED, reload=arguments.reload)
    queries = arguments.queries
    pool_size = arguments.pool_size
    _print(f"{chunks:,} chunks ready; load {times}")
    latency_queries = make_queries(queries, list(PROJECTS), SEED, SEED + 1)
    recall_queries = make_queries(
        queries, [PROJECTS[i] for i in RECALL_PROJECTS], SEED, SEED + 2
    )
    pool = await asyncpg.create_pool(
        dsn, min_size=pool_size, max_size=pool_size, init=register_vector
    )
    assert pool is not None
    try:
        figures = _load_figures(times)
        figures += await _latency_figures(
            pool, latency_queries, chunks, arguments.rounds
        )
        recall, sweep = await _recall_figures(pool, recall_queries, chunks)
    finally:
        await pool.close()
    return _section(chunks, arguments, times, figures + recall, sweep)


def _section(
    chunks: int,
    arguments: argparse.Namespace,
    times: LoadTimes,
    figures: list[Figure],
    sweep: list[str],
) -> Section:
    settings = RagSettings()
    name = "retrieval_100k" if chunks == 100_000 else f"retrieval_{chunks // 1000}k"
    shares = ", ".join(f"{share:.0%}" for share in PROJECT_SHARES)
    setup = (
        f"{chunks:,} chunks of 384-dim clustered unit vectors in 10 projects"
        f" (shares {shares}), 5 chunks per document, real support, dialogue"
        f" and issue sentences as text. {arguments.queries} queries per setting"
        f" and round, {arguments.rounds} rounds; each figure's samples are the rounds"
        f" (recall: 5 groups of queries). Product settings: candidates"
        f" {settings.search_candidates}, hnsw.ef_search {settings.hnsw_ef_search},"
        f" iterative scan relaxed_order, pool size {arguments.pool_size}."
        f" Index: {times.hnsw_definition}. Postgres: {SERVER_SETTINGS},"
        " maintenance_work_mem 3GB, 2 parallel maintenance workers."
        " Recall sweep (mean recall@10): " + "; ".join(sweep)
    )
    command = (
        f".venv/bin/python -m bench.retrieval --chunks {chunks}"
        f" --queries {arguments.queries} --rounds {arguments.rounds}"
    )
    return Section(
        name=name,
        title=f"RAG retrieval at {chunks:,} chunks",
        command=command,
        figures=figures,
        setup=setup,
    )


def _configure_server() -> None:
    """Start the embedded Postgres with the benchmark's memory settings.

    pg_ctl restart keeps the options of the first start, so the socket, and
    with it the DSN, stay the same.
    """
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    server = start_embedded_postgres(DATA_DIR)
    if asyncio.run(_alter_system(server)):
        # As root, the package runs the server as its own system user.
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pgdata = (DATA_DIR / "postgres").resolve()
        pg_ctl(["-w", "restart", "-m", "fast"], pgdata=pgdata, user=user)


async def _alter_system(server: str) -> bool:
    """Store SERVER_SETTINGS; return whether a restart is needed to apply them."""
    conn = await asyncpg.connect(server)
    try:
        changed = False
        for name, value in SERVER_SETTINGS.items():
            current = await conn.fetchval(
                "SELECT setting FROM pg_file_settings WHERE name = $1"
                " AND applied ORDER BY seqno DESC LIMIT 1",
                name,
            )
            if current != value:
                await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                changed = True
        return changed
    finally:
        await conn.close()


async def _run(arguments: argparse.Namespace) -> None:
    server = start_embedded_postgres(DATA_DIR)
    for chunks in arguments.chunks or [100_000, 1_000_000]:
        section = await _measure(server, chunks, arguments)
        _print(f"saved {section.save()}")


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--chunks",
        type=int,
        action="append",
        help="chunk count to measure; repeat for several (default 100000 and 1000000)",
    )
    parser.add_argument(
        "--queries", type=int, default=300, help="queries per setting and round"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="repeats of each latency setting"
    )
    parser.add_argument(
        "--pool-size", type=int, default=10, help="connections in the asyncpg pool"
    )
    parser.add_argument(
        "--stop", action="store_true", help="stop the embedded Postgres at the end"
    )
    parser.add_argument(
        "--reload", action="store_true", help="load the chunks again, even if present"
    )
    arguments = parser.parse_args()
    _configure_server()
    try:
        asyncio.run(_run(arguments))
    finally:
        if arguments.stop:
            stop_embedded_postgres(DATA_DIR)


if __name__ == "__main__":
    main()
