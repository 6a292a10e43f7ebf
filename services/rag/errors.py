"""Domain errors of the RAG service.

Each error also derives from the shared kind in `services.common.errors` that
fixes its gRPC status. `retryable` is True when the same call can succeed if
it is tried again later.
"""

from services.common.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)


class RagError(DomainError):
    """Base of every error the RAG service raises on purpose."""

    code = "rag_error"
    retryable = False


class InvalidQuery(RagError, InvalidArgument):
    """A search request that cannot be run as given."""

    code = "invalid_query"
    retryable = False


class EmbeddingProviderUnavailable(RagError, Unavailable):
    """Failure to reach the embedding provider: timeout, no connection, 429 or 5xx."""

    code = "embedding_provider_unavailable"
    retryable = True


class EmbeddingInputRejected(RagError, InvalidArgument):
    """An input the provider rejects, at position `input_index` when known."""

    code = "embedding_input_rejected"
    retryable = False

    def __init__(self, message: str, *, input_index: int | None = None) -> None:
        super().__init__(message)
        self.input_index = input_index


class EmbeddingDimensionMismatch(RagError, FailedPrecondition):
    """Vectors whose length differs from the dimension the index stores."""

    code = "embedding_dimension_mismatch"
    retryable = False

    def __init__(self, *, model: str, expected: int, actual: int) -> None:
        super().__init__(
            f"embedding model {model} returned {actual}-dimension vectors, but the"
            f" index stores {expected} dimensions; set the model's dimensions to"
            f" {expected} or migrate the vector column"
        )
        self.model = model
        self.expected = expected
        self.actual = actual


class AnswerProviderUnavailable(RagError, Unavailable):
    """Failure of the chat model, or a reply without valid citations."""

    code = "answer_provider_unavailable"
    retryable = True


class QueryRunNotFound(RagError, NotFound):
    """A query run id that is unknown or belongs to another project."""

    code = "query_run_not_found"
    retryable = False


class InvalidFeedback(RagError, InvalidArgument):
    """A rating outside 1 to 5 or a comment over the length limit."""

    code = "invalid_feedback"
    retryable = False
