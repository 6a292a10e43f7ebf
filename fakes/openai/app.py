"""A fake of OpenAI's embeddings and chat completions API for tests.

Served endpoints:
- `POST /v1/embeddings` and `POST /v1/chat/completions`, following OpenAI's
  request, response and error shapes;
- `GET /__fake__/stats` with request and input counts;
- `POST /__fake__/faults` to inject failures, for example
  `{"fail_next": 3, "status": 503}`, `{"down": true}`, `{"delay_seconds": 2}`
  or `{"chat_reply": "text [9]"}`; `{"reset": true}` clears earlier faults;
- `POST /__fake__/reset` to clear faults and counts.
"""

import asyncio
import base64
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fakes.openai.validation import (
    ApiError,
    EmbeddingRequest,
    check_api_key,
    parse_chat_request,
    parse_embedding_request,
)
from fakes.openai.vectors import (
    HashVectors,
    WordVectors,
    estimate_tokens,
    make_vectors,
)

_EVIDENCE_LINE = re.compile(r"^\s*\[(\d+)\]\s*(\S.*)$", re.MULTILINE)
MAX_ANSWER_CHARS = 300


@dataclass
class Faults:
    """Failures the fake injects into the API endpoints."""

    fail_next: int = 0
    status: int = 503
    down: bool = False
    delay_seconds: float = 0.0
    chat_reply: str | None = None


@dataclass
class Stats:
    """Counts of API requests the fake received."""

    embedding_requests: int = 0
    embedded_inputs: int = 0
    embedding_request_sizes: list[int] = field(default_factory=list)
    chat_requests: int = 0
    rejected_requests: int = 0
    injected_failures: int = 0


@dataclass
class FakeState:
    api_key: str
    dimension: int
    faults: Faults
    vectors: WordVectors | HashVectors
    stats: Stats = field(default_factory=Stats)


def create_app(
    *,
    api_key: str,
    dimension: int = 1536,
    faults: Faults | None = None,
    vector_mode: str = "words",
) -> FastAPI:
    """Build the fake API app for one API key and full vector dimension.

    `vector_mode` is one of vectors.VECTOR_MODES. "hash" makes embeddings
    cheap for load tests, but texts that share words get unrelated vectors.
    """
    vectors = make_vectors(vector_mode, dimension)
    state = FakeState(api_key, dimension, faults or Faults(), vectors)
    app = FastAPI(title="Fake OpenAI API")
    app.state.fake = state

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        state.stats.embedding_requests += 1
        return await _handle(state, request, _embeddings_response)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        state.stats.chat_requests += 1
        return await _handle(state, request, _chat_response)

    @app.get("/__fake__/stats")
    async def stats() -> dict[str, Any]:
        return asdict(state.stats)

    @app.post("/__fake__/faults")
    async def set_faults(request: Request) -> JSONResponse:
        try:
            state.faults = _updated_faults(state.faults, await request.json())
        except (ValueError, TypeError) as exc:
            return ApiError(400, f"Invalid fault settings: {exc}").to_response()
        return JSONResponse(asdict(state.faults))

    @app.post("/__fake__/reset")
    async def reset() -> dict[str, str]:
        state.faults = Faults()
        state.stats = Stats()
        return {"status": "reset"}

    return app


async def _handle(
    state: FakeState,
    request: Request,
    respond: Callable[[FakeState, Any], JSONResponse],
) -> JSONResponse:
    """Apply injected faults, authenticate, then build the response."""
    try:
        await _apply_faults(state)
        check_api_key(request.headers.get("authorization"), state.api_key)
        body = await _json_body(request)
        return respond(state, body)
    except ApiError as exc:
        if exc.status < 500 and exc.status != 429:
            state.stats.rejected_requests += 1
        return exc.to_response()


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}") from exc


async def _apply_faults(state: FakeState) -> None:
    faults = state.faults
    if faults.delay_seconds > 0:
        await asyncio.sleep(faults.delay_seconds)
    if faults.down:
        state.stats.injected_failures += 1
        raise _injected_error(503)
    if faults.fail_next > 0:
        faults.fail_next -= 1
        state.stats.injected_failures += 1
        raise _injected_error(faults.status)


def _injected_error(status: int) -> ApiError:
    if status == 429:
        return ApiError(
            429,
            "Rate limit reached (injected by the fake).",
            error_type="requests",
            code="rate_limit_exceeded",
        )
    error_type = "server_error" if status >= 500 else "invalid_request_error"
    return ApiError(status, "Injected failure of the fake.", error_type=error_type)


def _updated_faults(current: Faults, settings: Any) -> Faults:
    if not isinstance(settings, dict):
        raise TypeError("the body must be a JSON object")
    base = Faults() if settings.get("reset") else current
    values = asdict(base)
    for name, value in settings.items():
        if name == "reset":
            continue
        if name not in values:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(values)}")
        values[name] = value
    return Faults(**values)


def _embeddings_response(state: FakeState, body: Any) -> JSONResponse:
    request = parse_embedding_request(body, state.dimension)
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _encode(request, text, state),
        }
        for index, text in enumerate(request.inputs)
    ]
    state.stats.embedded_inputs += len(request.inputs)
    state.stats.embedding_request_sizes.append(len(request.inputs))
    tokens = sum(request.token_counts)
    return JSONResponse(
        {
            "object": "list",
            "data": data,
            "model": request.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def _encode(request: EmbeddingRequest, text: str, state: FakeState) -> Any:
    """Return a vector as floats, or as base64 of little-endian float32 bytes."""
    vector = state.vectors.vector(text, request.dimensions)
    if request.encoding_format == "base64":
        raw = np.asarray(vector, dtype="<f4").tobytes()
        return base64.b64encode(raw).decode("ascii")
    return [float(value) for value in vector.astype(np.float32)]


def _chat_response(state: FakeState, body: Any) -> JSONResponse:
    request = parse_chat_request(body)
    answer = state.faults.chat_reply or answer_from_evidence(request.prompt)
    prompt_tokens = estimate_tokens(request.prompt)
    completion_tokens = estimate_tokens(answer)
    return JSONResponse(
        {
            "id": f"chatcmpl-fake-{state.stats.chat_requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": answer,
                        "refusal": None,
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    )


def answer_from_evidence(prompt: str) -> str:
    """Answer with the first evidence line of the prompt, "[n] text", citing n."""
    match = _EVIDENCE_LINE.search(prompt)
    if match is None:
        return "The evidence does not answer this question."
    number, text = match.group(1), match.group(2).strip()
    text = text[:MAX_ANSWER_CHARS].rstrip(" .")
    return f"{text} [{number}]."
