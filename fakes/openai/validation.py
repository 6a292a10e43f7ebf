"""Request checks of the fake OpenAI API, with OpenAI's error body shape."""

from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

from fakes.openai.vectors import estimate_tokens

MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_INPUT = 8191
MAX_TOKENS_PER_REQUEST = 300_000
ENCODING_FORMATS = ("float", "base64")
# OpenAI accepts `dimensions` only for text-embedding-3 and later models.
FIXED_DIMENSION_MODELS = frozenset({"text-embedding-ada-002"})


class ApiError(Exception):
    """An error response in OpenAI's shape: {"error": {message, type, param, code}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code

    def to_response(self, headers: dict[str, str] | None = None) -> JSONResponse:
        """Render the error as a JSON response."""
        body = {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }
        return JSONResponse(body, status_code=self.status, headers=headers)


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str
    inputs: list[str]
    dimensions: int | None
    encoding_format: str
    token_counts: list[int]


@dataclass(frozen=True)
class ChatRequest:
    model: str
    prompt: str


def check_api_key(authorization: str | None, api_key: str) -> None:
    """Raise a 401 ApiError unless the header is `Bearer <api_key>`."""
    if not authorization or not authorization.startswith("Bearer "):
        raise ApiError(
            401,
            "Missing API key: send it in the Authorization header as 'Bearer KEY'.",
        )
    if authorization.removeprefix("Bearer ").strip() != api_key:
        raise ApiError(401, "Invalid API key.", code="invalid_api_key")


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _require_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "'model' is missing or not a string.", param="model")
    return model


def parse_inputs(value: Any) -> list[str]:
    """Return the inputs as a list of strings, or raise as OpenAI does."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise ApiError(
            400,
            "'$.input' is invalid: expected a string or a non-empty array of strings.",
            param="input",
        )
    if all(isinstance(item, int) or isinstance(item, list) for item in value):
        raise ApiError(
            400,
            "'$.input' is invalid: this fake does not accept token-id arrays;"
            " send strings.",
            param="input",
        )
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise ApiError(
                400,
                f"'$.input' is invalid: item {index} is not a string.",
                param="input",
            )
        if item == "":
            raise ApiError(
                400,
                f"'$.input' is invalid: item {index} is an empty string.",
                param="input",
            )
    if len(value) > MAX_INPUTS_PER_REQUEST:
        raise ApiError(
            400,
            f"'$.input' is invalid: {len(value)} items; the maximum is"
            f" {MAX_INPUTS_PER_REQUEST} per request.",
            param="input",
        )
    return list(value)


def _check_token_limits(inputs: list[str]) -> list[int]:
    counts = [estimate_tokens(text) for text in inputs]
    for index, count in enumerate(counts):
        if count > MAX_TOKENS_PER_INPUT:
            raise ApiError(
                400,
                f"Input {index} has about {count} tokens; the maximum per input is"
                f" {MAX_TOKENS_PER_INPUT}.",
                param="input",
            )
    if sum(counts) > MAX_TOKENS_PER_REQUEST:
        raise ApiError(
            400,
            f"The inputs have about {sum(counts)} tokens together; the maximum per"
            f" request is {MAX_TOKENS_PER_REQUEST}.",
            param="input",
        )
    return counts


def _parse_dimensions(value: Any, dimension: int, model: str) -> int | None:
    if value is None:
        return None
    if model in FIXED_DIMENSION_MODELS:
        raise ApiError(
            400,
            f"This model does not support specifying dimensions: {model}.",
            param="dimensions",
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "'dimensions' must be an integer.", param="dimensions")
    if not 1 <= value <= dimension:
        raise ApiError(
            400,
            f"'dimensions' is {value}; it must be between 1 and {dimension}.",
            param="dimensions",
        )
    return value


def parse_embedding_request(body: Any, dimension: int) -> EmbeddingRequest:
    """Validate a POST /v1/embeddings body against the fake's model."""
    body = _require_object(body)
    model = _require_model(body)
    inputs = parse_inputs(body.get("input"))
    counts = _check_token_limits(inputs)
    dimensions = _parse_dimensions(body.get("dimensions"), dimension, model)
    encoding_format = body.get("encoding_format") or "float"
    if encoding_format not in ENCODING_FORMATS:
        raise ApiError(
            400,
            f"'encoding_format' is {encoding_format!r}; use 'float' or 'base64'.",
            param="encoding_format",
        )
    return EmbeddingRequest(model, inputs, dimensions, encoding_format, counts)


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def parse_chat_request(body: Any) -> ChatRequest:
    """Validate a POST /v1/chat/completions body and join its message texts."""
    body = _require_object(body)
    model = _require_model(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "'messages' must be a non-empty array.", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message:
            raise ApiError(
                400,
                f"'messages[{index}]' must be an object with a role.",
                param="messages",
            )
    prompt = "\n".join(_message_text(message.get("content")) for message in messages)
    return ChatRequest(model, prompt)
