"""Settings of the RAG service."""

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import CommonSettings


class RagSettings(CommonSettings):
    """Listen address, the connectors address, chunking, embeddings and search."""

    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    listen_address: str = "127.0.0.1:50052"
    connectors_address: str = "127.0.0.1:50051"
    rpc_timeout_seconds: float = 30.0
    # Deadline of the call that checks a query's sources with the connectors
    # service. When it passes, the query cites the chunks as they were indexed.
    evidence_check_timeout_seconds: float = 1.0
    # Cadences of each project's indexing and embeddings jobs; a finished sync
    # makes indexing due at once, and indexing makes embeddings due.
    index_interval_seconds: float = 300.0
    embeddings_interval_seconds: float = 300.0

    # Chunk sizes in the embedding model's tokens; see services/rag/chunking.py.
    chunk_max_tokens: int | None = None
    chunk_overlap_tokens: int | None = None
    feed_page_size: int = 200

    embedding_batch_size: int = 32
    # Batches in flight at once in one embeddings run.
    embedding_concurrency: int = 4
    embedding_max_attempts: int = 3
    embedding_retry_seconds: float = 30.0
    embedding_claim_stale_seconds: float = 600.0

    search_candidates: int = 50
    search_default_limit: int = 8
    search_max_limit: int = 50
    hnsw_ef_search: int = 100

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL")
    )
    openai_embedding_model: str = "text-embedding-3-small"
    openai_embedding_dimensions: int | None = None
    openai_answer_model: str = "gpt-4o-mini"
