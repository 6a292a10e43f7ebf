"""Synthetic RAG chunks for the retrieval benchmark, loaded into the real schema.

Vectors are clustered unit vectors (topics, subtopics and per-chunk noise), so
a query's nearest neighbours are many near-equal candidates of one region and
the approximate search has real work to do. Texts are sentences of the real
support, dialogue and issue data in the shared data folder beside the
repository, combined at
random with a varying reference number, so the full-text leg meets natural
word frequencies. Chunks are spread over ten projects of unequal size, so the
project filter of each query matters.
"""

import csv
import hashlib
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from services.common.migrations import apply_migrations
from services.rag import bm25

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = REPO / ".." / "shared" / "data" / "real"
RAG_MIGRATIONS = REPO / "services" / "rag" / "migrations"
DIM = 384
MODEL = "multilingual-e5-small"
# Share of all chunks in each project; the first contains 40 %.
PROJECT_SHARES = (0.40, 0.20, 0.10, 0.08, 0.07, 0.05, 0.04, 0.03, 0.02, 0.01)
PROJECTS = tuple(f"00000000-0000-4000-8000-{n + 1:012x}" for n in range(10))
SOURCE_TYPES = ("chatwoot_conversation", "linear_issue", "attio_deal")
CHUNKS_PER_DOCUMENT = 5
COPY_BATCH = 50_000
LATENT_DIM = 48
TOPICS = 256
SUBTOPICS = 16
# Indexes built after the load, as a bulk import would; the others stay.
DEFERRED_INDEXES = ("rag_chunks_hnsw_384", "rag_chunks_search_tsv")
CHUNK_COLUMNS = (
    "project_id",
    "source_type",
    "external_id",
    "chunk_index",
    "text",
    "token_count",
    "content_hash",
    "embedding",
    "embedding_model",
    "embedding_dim",
    "embedding_status",
)


class ClusteredVectors:
    """Unit vectors drawn around fixed topic and subtopic centres.

    Points are drawn in a 48-dim latent space and projected to 384 dims with
    a little noise in every direction, because text embeddings vary along far
    fewer directions than they have. Isotropic 384-dim noise would make every
    neighbour nearly equidistant, which no real model produces.
    """

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        topics = rng.normal(size=(TOPICS, 1, LATENT_DIM))
        offsets = 0.5 * rng.normal(size=(TOPICS, SUBTOPICS, LATENT_DIM))
        self._centres = (topics + offsets).reshape(TOPICS * SUBTOPICS, LATENT_DIM)
        self._projection = rng.normal(size=(LATENT_DIM, DIM)) / np.sqrt(LATENT_DIM)

    def draw(self, count: int, rng: np.random.Generator) -> np.ndarray:
        centres = self._centres[rng.integers(0, len(self._centres), size=count)]
        latent = centres + 0.5 * rng.normal(size=(count, LATENT_DIM))
        rows = latent @ self._projection + 0.1 * rng.normal(size=(count, DIM))
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return np.asarray(rows / norms, dtype=np.float32)


def read_sentences() -> list[str]:
    """Read short real texts: support responses, dialogue turns, issue titles."""
    texts: list[str] = []
    support = REAL_DATA / "support"
    with (support / "bitext_customer_support_training.csv").open() as handle:
        for row in csv.DictReader(handle):
            texts.append(row["instruction"])
            texts.extend(_paragraphs(row["response"]))
    for name in ("russian_multiwoz_test_dialogues_001_ru.txt",):
        texts.extend(line for line in (support / name).read_text().splitlines())
    issues = REAL_DATA / "issues" / "inexbug_npm_github_issues_closed.jsonl"
    for line in issues.read_text().splitlines():
        issue = json.loads(line)
        texts.append(issue["title"])
        texts.extend(_paragraphs(issue.get("body") or "")[:5])
    return [text.strip() for text in texts if len(text.strip()) > 20]


def read_questions() -> list[str]:
    """Read distinct real questions: support requests and Russian dialogue turns."""
    questions: set[str] = set()
    support = REAL_DATA / "support"
    with (support / "bitext_customer_support_training.csv").open() as handle:
        questions.update(row["instruction"].strip() for row in csv.DictReader(handle))
    dialogue = support / "russian_multiwoz_test_dialogues_001_ru.txt"
    questions.update(line.strip() for line in dialogue.read_text().splitlines())
    return sorted(q for q in questions if 15 <= len(q) <= 200)


def _paragraphs(text: str) -> list[str]:
    return [part for part in text.replace("\r", "").split("\n") if part.strip()]


@dataclass(frozen=True)
class Layout:
    """Placement of the chunks: project sizes, documents and positions."""

    chunks: int

    def project_sizes(self) -> list[int]:
        sizes = [int(self.chunks * share) for share in PROJECT_SHARES]
        sizes[0] += self.chunks - sum(sizes)
        return sizes


def chunk_records(
    layout: Layout, sentences: list[str], vectors: ClusteredVectors, seed: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Yield batches of rag_chunks rows for COPY, project after project."""
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    for project, size in zip(PROJECTS, layout.project_sizes(), strict=True):
        project_id = uuid.UUID(project)
        for start in range(0, size, COPY_BATCH):
            count = min(COPY_BATCH, size - start)
            batch_vectors = vectors.draw(count, rng)
            batch = []
            for offset in range(count):
                n = start + offset
                text = _chunk_text(pick, sentences, n)
                batch.append(
                    (
                        project_id,
                        SOURCE_TYPES[(n // CHUNKS_PER_DOCUMENT) % len(SOURCE_TYPES)],
                        f"doc-{n // CHUNKS_PER_DOCUMENT}",
                        n % CHUNKS_PER_DOCUMENT,
                        text,
                        len(text) // 4,
                        hashlib.blake2b(text.encode(), digest_size=16).hexdigest(),
                        batch_vectors[offset],
                        MODEL,
                        DIM,
                        "ready",
                    )
                )
            yield batch


def _chunk_text(pick: random.Random, sentences: list[str], n: int) -> str:
    parts = pick.sample(sentences, pick.randint(2, 4))
    return f"{' '.join(parts)} (ref {n * 7919 % 1_000_003})"


def document_records(layout: Layout) -> Iterator[tuple[object, ...]]:
    for project, size in zip(PROJECTS, layout.project_sizes(), strict=True):
        documents = -(-size // CHUNKS_PER_DOCUMENT)
        for d in range(documents):
            yield (
                uuid.UUID(project),
                SOURCE_TYPES[d % len(SOURCE_TYPES)],
                f"doc-{d}",
                f"Document {d}",
                f"https://example.invalid/{project}/{d}",
                d,
                CHUNKS_PER_DOCUMENT,
            )


@dataclass
class LoadTimes:
    copy_seconds: float
    gin_seconds: float
    hnsw_seconds: float
    hnsw_definition: str


async def prepare_database(
    server_dsn: str, chunks: int, seed: int, *, reload: bool
) -> tuple[str, LoadTimes]:
    """Return the DSN of a database loaded with `chunks` chunks.

    Unless `reload` is set, a complete database of the same chunk count is
    reused, with any newer migrations applied, because loading a million
    chunks takes many minutes.
    """
    name = f"retrieval_{chunks}"
    dsn = server_dsn.replace("/postgres?", f"/{name}?")
    times = None if reload else await _saved_load_times(server_dsn, dsn, name)
    if times is not None:
        return dsn, times
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn)
    try:
        times = await _load(conn, Layout(chunks), seed)
    finally:
        await conn.close()
    return dsn, times


async def _saved_load_times(server_dsn: str, dsn: str, name: str) -> LoadTimes | None:
    admin = await asyncpg.connect(server_dsn)
    try:
        exists = await admin.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", name
        )
    finally:
        await admin.close()
    if not exists:
        return None
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT to_regclass('public.bench_load')"):
            return None
        # Migrations add to the schema, so newer ones apply on top of the
        # loaded chunks, which are kept.
        await apply_migrations(conn, "rag", RAG_MIGRATIONS)
        row = await conn.fetchrow("SELECT * FROM public.bench_load")
        return LoadTimes(**dict(row)) if row else None
    finally:
        await conn.close()


async def _load(conn: asyncpg.Connection, layout: Layout, seed: int) -> LoadTimes:
    await apply_migrations(conn, "rag", RAG_MIGRATIONS)
    await register_vector(conn)
    definitions = await _drop_deferred_indexes(conn)
    started = time.perf_counter()
    await _copy_rows(conn, layout, seed)
    for project in PROJECTS:
        await bm25.rebuild(conn, uuid.UUID(project))
    copy_seconds = time.perf_counter() - started

    # Room for the HNSW graph of a million 384-dim vectors (an estimated 2 GB),
    # so pgvector builds it in memory instead of in its slower on-disk phase.
    await conn.execute("SET maintenance_work_mem = '3GB'")
    await conn.execute("SET max_parallel_maintenance_workers = 2")
    gin_seconds = await _timed(conn, definitions["rag_chunks_search_tsv"])
    hnsw_definition = definitions["rag_chunks_hnsw_384"]
    hnsw_seconds = await _timed(conn, hnsw_definition)
    await conn.execute("VACUUM ANALYZE rag.rag_chunks")
    await conn.execute("VACUUM ANALYZE rag.rag_documents")
    await conn.execute("CHECKPOINT")

    times = LoadTimes(copy_seconds, gin_seconds, hnsw_seconds, hnsw_definition)
    await _save_load_times(conn, times)
    return times


async def _drop_deferred_indexes(conn: asyncpg.Connection) -> dict[str, str]:
    """Drop the indexes built after the load; return their definitions."""
    rows = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'rag'"
        " AND indexname = ANY($1::text[])",
        list(DEFERRED_INDEXES),
    )
    for index in DEFERRED_INDEXES:
        await conn.execute(f"DROP INDEX rag.{index}")
    return {row["indexname"]: row["indexdef"] for row in rows}


async def _copy_rows(conn: asyncpg.Connection, layout: Layout, seed: int) -> None:
    await conn.copy_records_to_table(
        "rag_documents",
        schema_name="rag",
        columns=(
            "project_id",
            "source_type",
            "external_id",
            "title",
            "url",
            "indexed_sequence",
            "chunk_count",
        ),
        records=document_records(layout),
    )
    vectors = ClusteredVectors(seed)
    for batch in chunk_records(layout, read_sentences(), vectors, seed):
        await conn.copy_records_to_table(
            "rag_chunks", schema_name="rag", columns=CHUNK_COLUMNS, records=batch
        )


async def _save_load_times(conn: asyncpg.Connection, times: LoadTimes) -> None:
    await conn.execute(
        "CREATE TABLE public.bench_load (copy_seconds float8, gin_seconds float8,"
        " hnsw_seconds float8, hnsw_definition text)"
    )
    await conn.execute(
        "INSERT INTO public.bench_load VALUES ($1, $2, $3, $4)",
        times.copy_seconds,
        times.gin_seconds,
        times.hnsw_seconds,
        times.hnsw_definition,
    )


async def _timed(conn: asyncpg.Connection, statement: str) -> float:
    started = time.perf_counter()
    await conn.execute(statement)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Query:
    project: str
    question: str
    vector: np.ndarray


def make_queries(
    count: int, projects: list[str], data_seed: int, query_seed: int
) -> list[Query]:
    """Draw `count` distinct questions with vectors, cycling over `projects`.

    Query vectors come from the same topic centres as the chunks of
    `data_seed`, so each has close neighbours as a real question would.
    """
    rng = np.random.default_rng(query_seed)
    questions = read_questions()
    random.Random(query_seed).shuffle(questions)
    vectors = ClusteredVectors(data_seed).draw(count, rng)
    return [
        Query(projects[i % len(projects)], questions[i], vectors[i])
        for i in range(count)
    ]
