"""Entry point of the RAG service: wiring only."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import grpc
from openai import AsyncOpenAI
from pgvector.asyncpg import register_vector

from gen.rag.v1 import rag_pb2, rag_pb2_grpc
from services.common.grpc_client import create_channel
from services.common.metrics import install_metrics
from services.common.runtime import ServiceSpec, run_service
from services.common.scheduler import Scheduler
from services.common.scheduler_api import install_scheduler
from services.rag import metrics as rag_metrics
from services.rag.chunking import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    Utf8ByteBound,
)
from services.rag.embedding import EmbeddingProvider, build_provider
from services.rag.embedding_job import EmbeddingJob, EmbeddingPolicy
from services.rag.evidence_client import EvidenceClient
from services.rag.feed_client import FeedClient
from services.rag.grpc_api import RagServicer
from services.rag.indexing import ChunkSizes, Indexer
from services.rag.jobs import RagJobs
from services.rag.query import LlmAnswers, QueryService
from services.rag.retrieval import HybridSearch
from services.rag.settings import RagSettings

SERVICE_NAME = rag_pb2.DESCRIPTOR.services_by_name["RagService"].full_name


def build_provider_from(settings: RagSettings) -> EmbeddingProvider:
    key = (
        settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    )
    return build_provider(
        "auto",
        openai_api_key=key,
        openai_base_url=settings.openai_base_url,
        openai_model=settings.openai_embedding_model,
        openai_dimensions=settings.openai_embedding_dimensions,
    )


# With OpenAI the chunker counts UTF-8 bytes, an upper bound on BPE tokens:
# 1,200 bytes are about 300 English tokens (fewer for Cyrillic), far below the
# 8,191-token input limit while keeping chunks as focused as the local ones.
OPENAI_MAX_BYTES = 1200
OPENAI_OVERLAP_BYTES = 240


def chunk_sizes(settings: RagSettings, provider: EmbeddingProvider) -> ChunkSizes:
    """Return the configured chunk sizes, or defaults for the provider's tokenizer."""
    counts_bytes = isinstance(provider.tokenizer, Utf8ByteBound)
    default_max = OPENAI_MAX_BYTES if counts_bytes else DEFAULT_MAX_TOKENS
    default_overlap = OPENAI_OVERLAP_BYTES if counts_bytes else DEFAULT_OVERLAP_TOKENS
    return ChunkSizes(
        settings.chunk_max_tokens or default_max,
        settings.chunk_overlap_tokens or default_overlap,
    )


def build_servicer(
    pool: asyncpg.Pool, settings: RagSettings
) -> tuple[RagServicer, RagJobs]:
    """Wire the indexer, embeddings job and query service of one process."""
    provider = build_provider_from(settings)
    secret = settings.internal_token_secret.get_secret_value()
    channel = create_channel(
        settings.connectors_address,
        settings.grpc_max_message_bytes,
        settings.tls_files(),
    )
    feed = FeedClient(channel, secret, settings.rpc_timeout_seconds)
    sizes = chunk_sizes(settings, provider)
    indexer = Indexer(pool, feed, provider.tokenizer, sizes, settings.feed_page_size)
    policy = EmbeddingPolicy(
        batch_size=min(settings.embedding_batch_size, provider.max_batch_size),
        max_attempts=settings.embedding_max_attempts,
        retry_seconds=settings.embedding_retry_seconds,
        claim_stale_seconds=settings.embedding_claim_stale_seconds,
        concurrency=settings.embedding_concurrency,
    )
    search = HybridSearch(
        pool,
        provider,
        candidates=settings.search_candidates,
        ef_search=settings.hnsw_ef_search,
    )
    llm = None
    if settings.openai_api_key:
        client = AsyncOpenAI(
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url,
        )
        llm = LlmAnswers(client, settings.openai_answer_model)
    evidence = EvidenceClient(channel, secret, settings.evidence_check_timeout_seconds)
    queries = QueryService(
        pool, search, llm, settings.search_max_limit, evidence=evidence
    )
    embeddings = EmbeddingJob(pool, provider, policy)
    jobs = RagJobs(
        indexer,
        embeddings,
        index_seconds=settings.index_interval_seconds,
        embeddings_seconds=settings.embeddings_interval_seconds,
    )
    servicer = RagServicer(
        pool, indexer, embeddings, queries, provider, settings.search_default_limit
    )
    return servicer, jobs


def build_spec(settings: RagSettings) -> ServiceSpec:
    async def register(server: grpc.aio.Server, pool: asyncpg.Pool) -> Sequence[str]:
        servicer, jobs = build_servicer(pool, settings)
        rag_pb2_grpc.add_RagServiceServicer_to_server(servicer, server)
        jobs.scheduler = Scheduler(pool, "rag", jobs.handlers())
        scheduler_name = await install_scheduler(
            server,
            spec.on_shutdown,
            jobs.scheduler,
            service="rag",
            ensure_project=jobs.ensure_project,
            service_wide={},
        )
        metrics_name = install_metrics(
            server, rag_metrics.gather_for(pool), settings.metrics_port
        )
        return [SERVICE_NAME, scheduler_name, metrics_name]

    spec = ServiceSpec(
        name="rag",
        schema="rag",
        migrations_dir=Path(__file__).parent / "migrations",
        register=register,
        listen_address=settings.listen_address,
        pool_init=register_vector,
    )
    return spec


def main() -> None:
    settings = RagSettings()
    asyncio.run(run_service(build_spec(settings), settings))


if __name__ == "__main__":
    main()
