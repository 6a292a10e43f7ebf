"""The fake OpenAI API, exercised with the real openai client over HTTP."""

import base64
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import numpy as np
import openai
import pytest
from openai import AsyncOpenAI

from fakes.openai import create_app, serve_in_thread

API_KEY = "sk-test-fake"
DIMENSION = 64


@pytest.fixture
def fake_url() -> Iterator[str]:
    with serve_in_thread(create_app(api_key=API_KEY, dimension=DIMENSION)) as url:
        yield url


@pytest.fixture
async def client(fake_url: str) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(api_key=API_KEY, base_url=f"{fake_url}/v1", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def http(fake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_url) as http:
        yield http


async def embed(client: AsyncOpenAI, texts: list[str]) -> list[np.ndarray]:
    response = await client.embeddings.create(
        model="text-embedding-3-small", input=texts
    )
    return [np.array(item.embedding) for item in response.data]


async def set_faults(http: httpx.AsyncClient, **faults: object) -> None:
    response = await http.post("/__fake__/faults", json=faults)
    response.raise_for_status()


class TestEmbeddings:
    async def test_returns_unit_vectors_in_order(self, client: AsyncOpenAI) -> None:
        response = await client.embeddings.create(
            model="text-embedding-3-small", input=["первый", "second"]
        )

        assert [item.index for item in response.data] == [0, 1]
        assert response.model == "text-embedding-3-small"
        for item in response.data:
            assert len(item.embedding) == DIMENSION
            assert np.linalg.norm(item.embedding) == pytest.approx(1.0, abs=1e-5)
        assert response.usage.prompt_tokens > 0

    async def test_same_text_gives_same_vector(self, client: AsyncOpenAI) -> None:
        first = await embed(client, ["Клиент просит возврат"])
        second = await embed(client, ["Клиент просит возврат"])

        assert np.array_equal(first[0], second[0])

    async def test_shared_words_give_similar_vectors(self, client: AsyncOpenAI) -> None:
        base, related, unrelated = await embed(
            client,
            [
                "клиент просит возврат оплаты",
                "клиент просит возврат денег",
                "релиз сервера перенесён на пятницу",
            ],
        )

        assert float(base @ related) > 0.5
        assert float(base @ related) > float(base @ unrelated) + 0.3

    async def test_base64_is_little_endian_float32(
        self, http: httpx.AsyncClient
    ) -> None:
        body = {"model": "text-embedding-3-small", "input": ["счёт оплачен"]}
        headers = {"Authorization": f"Bearer {API_KEY}"}

        as_float = await http.post("/v1/embeddings", json=body, headers=headers)
        as_base64 = await http.post(
            "/v1/embeddings",
            json={**body, "encoding_format": "base64"},
            headers=headers,
        )

        encoded = as_base64.json()["data"][0]["embedding"]
        decoded = np.frombuffer(base64.b64decode(encoded), dtype="<f4")
        expected = np.array(as_float.json()["data"][0]["embedding"], dtype="<f4")
        assert np.array_equal(decoded, expected)

    async def test_client_default_base64_decodes(self, client: AsyncOpenAI) -> None:
        default = await embed(client, ["счёт оплачен"])
        explicit = await client.embeddings.create(
            model="text-embedding-3-small",
            input=["счёт оплачен"],
            encoding_format="float",
        )

        assert np.allclose(default[0], explicit.data[0].embedding)

    async def test_dimensions_shortens_vector(self, client: AsyncOpenAI) -> None:
        response = await client.embeddings.create(
            model="text-embedding-3-small", input="ENG-12", dimensions=16
        )

        vector = response.data[0].embedding
        assert len(vector) == 16
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)

    async def test_single_empty_string_is_embedded(self, client: AsyncOpenAI) -> None:
        response = await client.embeddings.create(
            model="text-embedding-3-small", input=""
        )

        assert len(response.data[0].embedding) == DIMENSION


class TestEmbeddingLimits:
    async def test_empty_string_in_list_rejected(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError) as caught:
            await embed(client, ["Клиент просит возврат", "", "ENG-12 закрыта"])

        error = caught.value.body
        assert caught.value.status_code == 400
        assert isinstance(error, dict)
        assert error["message"] == "'$.input' is invalid: item 1 is an empty string."
        assert error["param"] == "input"

    async def test_2048_inputs_accepted(self, client: AsyncOpenAI) -> None:
        vectors = await embed(client, [f"chunk {i}" for i in range(2048)])

        assert len(vectors) == 2048

    async def test_2049_inputs_rejected(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError, match="2049 items"):
            await embed(client, [f"chunk {i}" for i in range(2049)])

    async def test_input_over_8191_tokens_rejected(self, client: AsyncOpenAI) -> None:
        # 16,384 ASCII bytes are estimated at 8,192 tokens.
        with pytest.raises(openai.BadRequestError, match="Input 1 has about 8192"):
            await embed(client, ["short", "x" * 16_384])

    async def test_input_at_8191_tokens_accepted(self, client: AsyncOpenAI) -> None:
        vectors = await embed(client, ["x" * 16_382])

        assert len(vectors) == 1

    async def test_token_id_arrays_rejected(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/v1/embeddings",
            json={"model": "text-embedding-3-small", "input": [[1, 2, 3]]},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )

        assert response.status_code == 400
        assert response.json()["error"]["param"] == "input"

    async def test_dimensions_above_model_rejected(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError, match="dimensions"):
            await client.embeddings.create(
                model="text-embedding-3-small", input="x", dimensions=DIMENSION + 1
            )

    async def test_dimensions_rejected_for_ada_002(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError, match="dimensions") as caught:
            await client.embeddings.create(
                model="text-embedding-ada-002", input="x", dimensions=16
            )

        assert caught.value.body["param"] == "dimensions"  # type: ignore[index]


class TestAuthentication:
    async def test_wrong_key_gets_401(self, fake_url: str) -> None:
        client = AsyncOpenAI(api_key="wrong", base_url=f"{fake_url}/v1", max_retries=0)

        with pytest.raises(openai.AuthenticationError) as caught:
            await embed(client, ["x"])
        await client.close()

        assert caught.value.status_code == 401
        assert caught.value.code == "invalid_api_key"

    async def test_missing_key_gets_openai_error_shape(
        self, http: httpx.AsyncClient
    ) -> None:
        response = await http.post(
            "/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}
        )

        assert response.status_code == 401
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
        assert response.json()["error"]["type"] == "invalid_request_error"


class TestStatsAndFaults:
    async def test_stats_count_requests_and_inputs(
        self, client: AsyncOpenAI, http: httpx.AsyncClient
    ) -> None:
        await embed(client, ["a", "b", "c"])
        await embed(client, ["d"])

        stats = (await http.get("/__fake__/stats")).json()

        assert stats["embedding_requests"] == 2
        assert stats["embedded_inputs"] == 4
        assert stats["embedding_request_sizes"] == [3, 1]

    async def test_fail_next_then_recovers(
        self, client: AsyncOpenAI, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, fail_next=2, status=503)

        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await embed(client, ["x"])
        vectors = await embed(client, ["x"])

        assert len(vectors) == 1
        assert (await http.get("/__fake__/stats")).json()["injected_failures"] == 2

    async def test_rate_limit_fault(
        self, client: AsyncOpenAI, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, fail_next=1, status=429)

        with pytest.raises(openai.RateLimitError):
            await embed(client, ["x"])

    async def test_down_until_cleared(
        self, client: AsyncOpenAI, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, down=True)

        for _ in range(3):
            with pytest.raises(openai.InternalServerError):
                await embed(client, ["x"])
        await set_faults(http, down=False)

        assert len(await embed(client, ["x"])) == 1

    async def test_delay_causes_client_timeout(
        self, fake_url: str, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, delay_seconds=1.0)
        client = AsyncOpenAI(
            api_key=API_KEY, base_url=f"{fake_url}/v1", max_retries=0, timeout=0.2
        )

        with pytest.raises(openai.APITimeoutError):
            await embed(client, ["x"])
        await client.close()

    async def test_unknown_fault_rejected(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/__fake__/faults", json={"explode": True})

        assert response.status_code == 400

    async def test_reset_clears_faults_and_stats(
        self, client: AsyncOpenAI, http: httpx.AsyncClient
    ) -> None:
        await embed(client, ["x"])
        await set_faults(http, down=True)

        await http.post("/__fake__/reset")

        assert len(await embed(client, ["x"])) == 1
        assert (await http.get("/__fake__/stats")).json()["embedding_requests"] == 1


class TestChatCompletions:
    async def test_answer_cites_first_evidence_line(self, client: AsyncOpenAI) -> None:
        prompt = (
            "Question: когда переход на Pro?\n\nEvidence:\n"
            "[1] Переход на тариф Pro запланирован на 15 июля\n"
            "[2] Счёт №55 оплачен"
        )

        response = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
        )

        content = response.choices[0].message.content
        assert content == "Переход на тариф Pro запланирован на 15 июля [1]."
        assert response.choices[0].finish_reason == "stop"

    async def test_no_evidence_gives_uncited_answer(self, client: AsyncOpenAI) -> None:
        response = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
        )

        assert "[" not in (response.choices[0].message.content or "")

    async def test_chat_reply_fault_overrides_answer(
        self, client: AsyncOpenAI, http: httpx.AsyncClient
    ) -> None:
        await set_faults(http, chat_reply="Wrong citation [9].")

        response = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "[1] x"}]
        )

        assert response.choices[0].message.content == "Wrong citation [9]."

    async def test_chat_requires_messages(self, client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError, match="messages"):
            await client.chat.completions.create(model="gpt-4o-mini", messages=[])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_server(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, "the fake exited while starting"
        try:
            httpx.get(f"{url}/__fake__/stats", timeout=1).raise_for_status()
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"the fake at {url} did not start within 20 s")


def test_command_line_serves_requested_dimension() -> None:
    port = free_port()
    command = [sys.executable, "-m", "fakes.openai", "--port", str(port)]
    command += ["--api-key", "cli-key", "--dimension", "8"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_server(f"http://127.0.0.1:{port}", process)
        with openai.OpenAI(
            api_key="cli-key", base_url=f"http://127.0.0.1:{port}/v1"
        ) as client:
            response = client.embeddings.create(
                model="text-embedding-3-small", input="hello"
            )
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert len(response.data[0].embedding) == 8


@pytest.fixture
async def hash_client() -> AsyncIterator[AsyncOpenAI]:
    app = create_app(api_key=API_KEY, dimension=DIMENSION, vector_mode="hash")
    with serve_in_thread(app) as url:
        client = AsyncOpenAI(api_key=API_KEY, base_url=f"{url}/v1", max_retries=0)
        yield client
        await client.close()


class TestHashVectorMode:
    async def test_same_text_gives_same_vector(self, hash_client: AsyncOpenAI) -> None:
        first = await embed(hash_client, ["Клиент просит возврат", "ENG-12"])
        second = await embed(hash_client, ["Клиент просит возврат"])

        assert np.array_equal(first[0], second[0])
        assert not np.array_equal(first[0], first[1])

    async def test_returns_unit_vectors(self, hash_client: AsyncOpenAI) -> None:
        vectors = await embed(hash_client, ["первый", "second", "third"])

        for vector in vectors:
            assert len(vector) == DIMENSION
            assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)

    async def test_float_matches_base64(self, hash_client: AsyncOpenAI) -> None:
        default = await embed(hash_client, ["счёт оплачен"])
        as_float = await hash_client.embeddings.create(
            model="text-embedding-3-small",
            input=["счёт оплачен"],
            encoding_format="float",
        )

        assert np.array_equal(default[0], as_float.data[0].embedding)

    async def test_dimensions_shortens_vector(self, hash_client: AsyncOpenAI) -> None:
        response = await hash_client.embeddings.create(
            model="text-embedding-3-small", input="ENG-12", dimensions=16
        )

        vector = response.data[0].embedding
        assert len(vector) == 16
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)

    async def test_validation_unchanged(self, hash_client: AsyncOpenAI) -> None:
        with pytest.raises(openai.BadRequestError) as empty:
            await embed(hash_client, ["Клиент просит возврат", ""])
        with pytest.raises(openai.BadRequestError) as too_long:
            await hash_client.embeddings.create(
                model="text-embedding-3-small", input="x", dimensions=DIMENSION + 1
            )

        assert empty.value.body["param"] == "input"  # type: ignore[index]
        assert too_long.value.body["param"] == "dimensions"  # type: ignore[index]


def test_unknown_vector_mode_rejected() -> None:
    with pytest.raises(ValueError, match="unknown vector mode 'fast'"):
        create_app(api_key=API_KEY, vector_mode="fast")


def test_command_line_serves_hash_mode() -> None:
    port = free_port()
    command = [sys.executable, "-m", "fakes.openai", "--port", str(port)]
    command += ["--api-key", "cli-key", "--dimension", "8", "--vector-mode", "hash"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_server(f"http://127.0.0.1:{port}", process)
        with openai.OpenAI(
            api_key="cli-key", base_url=f"http://127.0.0.1:{port}/v1"
        ) as client:
            response = client.embeddings.create(
                model="text-embedding-3-small", input="hello"
            )
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert len(response.data[0].embedding) == 8
