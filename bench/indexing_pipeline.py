"""Chunking and embeddings-job runs for the indexing benchmark.

The embeddings runs use the product's EmbeddingJob, repository and providers.
Each run starts from the same pending chunks: they are chunked once from the
real documents, kept in a staging table, and copied back into an emptied
rag.rag_chunks before the run, followed by VACUUM ANALYZE and CHECKPOINT so
that the seed's own writes are not timed.
"""

import asyncio
import secrets
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import asyncpg
import httpx
import numpy as np
from pgvector.asyncpg import register_vector

from bench.indexing_data import PROJECT, real_documents
from bench.results import Figure
from bench.scratch import fresh_database
from devstack.processes import ProcessGroup, free_port, wait_for_port
from services.common.database import Connection
from services.rag import repository
from services.rag.chunking import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    Chunk,
    Tokenizer,
    Utf8ByteBound,
    split_into_chunks,
)
from services.rag.documents import SourceDocument
from services.rag.embedding import EmbeddingProvider, LocalE5Provider, OpenAIProvider
from services.rag.embedding_job import EmbeddingJob, EmbeddingPolicy
from services.rag.main import OPENAI_MAX_BYTES, OPENAI_OVERLAP_BYTES

REPO = Path(__file__).resolve().parents[1]
RAG_MIGRATIONS = REPO / "services" / "rag" / "migrations"
OPENAI_DIMENSION = 1536
TARGET_CHUNKS_PER_SECOND = ">= 2000"
FAKE_ALONE_CHUNKS = 2048
# A row of rag.rag_chunks in SEED_COLUMNS order.
SeedRow = tuple[uuid.UUID, str, str, int, str, int, str]
SEED_COLUMNS = "project_id, source_type, external_id, chunk_index, text,"
SEED_COLUMNS += " token_count, content_hash"


@dataclass(frozen=True)
class Variant:
    """One setting of the embeddings job that the benchmark compares."""

    name: str
    batch_size: int
    concurrency: int
    per_row_store: bool = False
    statement_cache_size: int = 100
    pool_size: int = 10


# The first variant is the job as it was before tuning. The next three each
# change one setting of the one before, and the last two each change one
# setting of the fourth.
OPENAI_VARIANTS = (
    Variant("batch 32, 1 in flight, UPDATE per chunk", 32, 1, per_row_store=True),
    Variant("batch 32, 1 in flight, one UPDATE per batch", 32, 1),
    Variant("batch 256, 1 in flight, one UPDATE per batch", 256, 1),
    Variant("batch 256, 4 in flight, one UPDATE per batch", 256, 4),
    Variant(
        "batch 256, 4 in flight, statement cache off", 256, 4, statement_cache_size=0
    ),
    Variant("batch 256, 4 in flight, pool of 2", 256, 4, pool_size=2),
)


class FakeOpenAI:
    """The fake OpenAI API as its own process on a loopback port."""

    def __init__(self, log_dir: Path) -> None:
        self.api_key = secrets.token_hex(8)
        self.port = free_port()
        self._group = ProcessGroup(log_dir)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "FakeOpenAI":
        command = ["-m", "fakes.openai", "--port", str(self.port)]
        command += ["--api-key", self.api_key, "--dimension", str(OPENAI_DIMENSION)]
        # Hash vectors cost the fake little, so it responds at once and the
        # figures measure the product rather than the fake's vector model.
        command += ["--vector-mode", "hash"]
        self._group.start("openai-fake", command, {})
        wait_for_port(self._group, self.port, 60)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._group.stop()

    def provider(self) -> OpenAIProvider:
        return OpenAIProvider(
            self.api_key, f"{self.base_url}/v1", max_retries=0, timeout_seconds=60
        )

    def embedding_requests(self) -> int:
        """Return how many embedding requests the fake has received."""
        stats = httpx.get(f"{self.base_url}/__fake__/stats", timeout=10).json()
        return int(stats["embedding_requests"])


def chunk_rate(
    documents: Sequence[SourceDocument], tokenizer: Tokenizer, max_tokens: int
) -> float:
    """Chunk every document once and return chunks per second."""
    overlap = DEFAULT_OVERLAP_TOKENS * max_tokens // DEFAULT_MAX_TOKENS
    started = time.perf_counter()
    chunks = sum(
        len(
            split_into_chunks(
                d, tokenizer, max_tokens=max_tokens, overlap_tokens=overlap
            )
        )
        for d in documents
    )
    return chunks / (time.perf_counter() - started)


def seed_chunks(tokenizer: Tokenizer, max_tokens: int, count: int) -> list[SeedRow]:
    """Chunk the real documents and repeat them until there are `count` rows."""
    overlap = (
        OPENAI_OVERLAP_BYTES
        if max_tokens == OPENAI_MAX_BYTES
        else (DEFAULT_OVERLAP_TOKENS)
    )
    chunked: list[tuple[SourceDocument, Chunk]] = []
    for document in real_documents():
        for chunk in split_into_chunks(
            document, tokenizer, max_tokens=max_tokens, overlap_tokens=overlap
        ):
            chunked.append((document, chunk))
        if len(chunked) >= count:
            break
    rows: list[SeedRow] = []
    for n in range(count):
        document, chunk = chunked[n % len(chunked)]
        copy = n // len(chunked)
        rows.append(
            (
                uuid.UUID(PROJECT),
                document.source_type,
                f"{document.external_id}#{copy}",
                chunk.index,
                chunk.text,
                chunk.token_count,
                chunk.content_hash,
            )
        )
    return rows


async def _stage(dsn: str, rows: list[SeedRow]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE public.bench_seed AS SELECT "
            + SEED_COLUMNS
            + " FROM rag.rag_chunks WITH NO DATA"
        )
        await conn.copy_records_to_table(
            "bench_seed", schema_name="public", records=rows
        )
    finally:
        await conn.close()


async def _reseed(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE rag.rag_chunks")
        await conn.execute(
            f"INSERT INTO rag.rag_chunks ({SEED_COLUMNS})"
            f" SELECT {SEED_COLUMNS} FROM public.bench_seed"
        )
        await conn.execute("VACUUM ANALYZE rag.rag_chunks")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _store_per_row(
    conn: Connection,
    chunk_ids: Sequence[uuid.UUID],
    vectors: Sequence[Sequence[float]],
    *,
    model: str,
    dimension: int,
    worker: str,
) -> int:
    """Store vectors with one UPDATE per chunk, as the job did before tuning."""
    await conn.executemany(
        "UPDATE rag.rag_chunks SET embedding = $2, embedding_model = $3,"
        " embedding_dim = $4, embedding_status = 'ready', last_error = NULL,"
        " embedded_at = now(), updated_at = now()"
        " WHERE id = $1 AND claimed_by = $5 AND embedding_status = 'processing'",
        [
            (chunk_id, np.asarray(vector, dtype=np.float32), model, dimension, worker)
            for chunk_id, vector in zip(chunk_ids, vectors, strict=True)
        ],
    )
    return len(chunk_ids)


async def _timed_run(
    dsn: str, provider: EmbeddingProvider, variant: Variant, expected: int
) -> float:
    """Reseed, run the job once over every pending chunk; return chunks/s."""
    await _reseed(dsn)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=variant.pool_size,
        statement_cache_size=variant.statement_cache_size,
        init=register_vector,
    )
    policy = EmbeddingPolicy(
        batch_size=variant.batch_size,
        max_attempts=3,
        retry_seconds=30,
        claim_stale_seconds=600,
        concurrency=variant.concurrency,
    )
    product_store = repository.store_embeddings
    if variant.per_row_store:
        repository.store_embeddings = _store_per_row
    try:
        started = time.perf_counter()
        counts = await EmbeddingJob(pool, provider, policy).run(PROJECT)
        seconds = time.perf_counter() - started
    finally:
        repository.store_embeddings = product_store
        await pool.close()
    if counts.embedded != expected:
        raise SystemExit(f"{variant.name}: embedded {counts.embedded} of {expected}")
    return counts.embedded / seconds


async def _fake_alone_rate(provider: OpenAIProvider, texts: list[str]) -> float:
    """Embed texts through the fake only, 4 requests of 256 at a time."""
    started = time.perf_counter()
    for start in range(0, len(texts), 1024):
        await asyncio.gather(
            *(
                provider.embed_passages(texts[first : first + 256])
                for first in range(start, min(len(texts), start + 1024), 256)
            )
        )
    return len(texts) / (time.perf_counter() - started)


async def measure_openai(
    server: str, fake: FakeOpenAI, repeat: int, pending: int
) -> list[Figure]:
    """Run every variant `repeat` times, interleaved so noise hits all alike."""
    dsn = await fresh_database(server, ("rag",))
    seed = seed_chunks(Utf8ByteBound(), OPENAI_MAX_BYTES, pending)
    await _stage(dsn, seed)
    provider = fake.provider()
    samples: dict[str, list[float]] = {v.name: [] for v in OPENAI_VARIANTS}
    texts = [row[4] for row in seed[:FAKE_ALONE_CHUNKS]]
    fake_alone: list[float] = []
    try:
        for _ in range(repeat):
            fake_alone.append(await _fake_alone_rate(provider, texts))
            for variant in OPENAI_VARIANTS:
                rate = await _timed_run(dsn, provider, variant, pending)
                samples[variant.name].append(rate)
    finally:
        await provider.aclose()
    ceiling = Figure(
        f"fake OpenAI alone, no database: {FAKE_ALONE_CHUNKS} chunks as 4"
        " concurrent requests of 256",
        "chunks/s",
        fake_alone,
        note="the ceiling the fake process sets for every pipeline figure",
    )
    return [ceiling] + [
        Figure(
            f"embeddings via fake OpenAI: {name}",
            "chunks/s",
            rates,
            target=TARGET_CHUNKS_PER_SECOND,
        )
        for name, rates in samples.items()
    ]


async def measure_local(
    server: str, provider: LocalE5Provider, repeat: int, pending: int
) -> Figure:
    """Run the job with the local model over `pending` default-length chunks."""
    dsn = await fresh_database(server, ("rag",))
    await _stage(dsn, seed_chunks(provider.tokenizer, DEFAULT_MAX_TOKENS, pending))
    variant = Variant("local", 32, 1)
    rates = [await _timed_run(dsn, provider, variant, pending) for _ in range(repeat)]
    return Figure(
        "embeddings via local multilingual-e5-small, 160-token chunks",
        "chunks/s",
        rates,
        note="batch 32 (the local provider's maximum), 1 in flight",
    )


def setup_text(pending: int, local_chunks: int) -> str:
    return (
        f"Chunking: {DEFAULT_MAX_TOKENS} e5 tokens per chunk with"
        f" {DEFAULT_OVERLAP_TOKENS} tokens overlap (the product's default), over"
        " 428 GitHub issues with comments, the Russian MultiWOZ test dialogues and"
        " the SGD banking dialogues, read from the shared data folder."
        f" OpenAI pipeline: {pending:,} pending chunks of at most"
        f" {OPENAI_MAX_BYTES} UTF-8 bytes ({OPENAI_OVERLAP_BYTES} overlap, the"
        " product's OpenAI default) cut from the same documents and repeated;"
        f" fake OpenAI process on loopback, {OPENAI_DIMENSION}-dimension vectors"
        " in its cheap hash mode (each text's vector is picked by a hash of the"
        " text, so the fake answers at once), base64 encoding"
        " as the openai client requests by default, no injected delay; one"
        " embedded Postgres 18 with pgvector on the same 2-core machine."
        " The hash mode raised the fake alone"
        " from about 400-760 to 1,260-2,200 chunks/s in a side run (2,048-8,192"
        " chunks, 4 requests of 256 at a time). Vectors of text-embedding-3"
        " models go into rag_chunks_hnsw_1536_prefix512, an HNSW index of their"
        " first 512 components as halfvec (migration 005), and claims read"
        " rag_chunks_due (migration 006)."
        " Each run reseeds the"
        " chunks; settings are interleaved across repeats. Local model:"
        f" {local_chunks} chunks of up to {DEFAULT_MAX_TOKENS} tokens, batch 32."
    )
