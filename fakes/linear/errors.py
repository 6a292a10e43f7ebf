"""GraphQL error objects in the shapes Linear's API sends.

Linear puts its error class in `extensions.type` (its SDK maps on it) and a
code in `extensions.code`. The "Query too complex" body copies a real Linear
response; the other bodies follow the same layout.
"""

from typing import Any

from graphql import GraphQLError

MAX_COMPLEXITY = 10_000


def _extensions(
    error_type: str, code: str, status: int, user_message: str
) -> dict[str, Any]:
    return {
        "type": error_type,
        "code": code,
        "statusCode": status,
        "userError": True,
        "userPresentableMessage": user_message,
        "http": {"status": status},
    }


def input_error(message: str, user_message: str | None = None) -> GraphQLError:
    """Build an INPUT_ERROR ("invalid input") error, sent with HTTP 400."""
    return GraphQLError(
        message,
        extensions=_extensions(
            "invalid input", "INPUT_ERROR", 400, user_message or message
        ),
    )


def too_complex_error(complexity: float) -> GraphQLError:
    """Build Linear's rejection of a query that costs more than MAX_COMPLEXITY."""
    return input_error(
        "Query too complex",
        f"The query is too complex. Complexity: {complexity}."
        f" Maximum allowed complexity: {MAX_COMPLEXITY}.",
    )


def not_found_error(type_name: str) -> GraphQLError:
    """Build the error for an id that matches no record of type_name."""
    # NOTE: the message follows Linear's "Entity not found" errors seen in client
    # logs; the HTTP status of this case is not confirmed, and the fake sends 200.
    return GraphQLError(
        f"Entity not found: {type_name}",
        extensions={
            "type": "invalid input",
            "code": "INPUT_ERROR",
            "userError": True,
            "userPresentableMessage": f"Could not find referenced {type_name}.",
        },
    )


def error_body(error: GraphQLError) -> dict[str, Any]:
    """Return a response body that carries only error, with no data key."""
    return {"errors": [error.formatted]}


def authentication_body() -> dict[str, Any]:
    """Return the body for a missing or wrong API key."""
    # NOTE: a stand-in shape. Linear's SDK treats an "authentication error" type,
    # or any 4xx status other than 403 and 429, as an authentication failure. The
    # exact message and status that Linear sends are not confirmed.
    message = "Authentication required, not authenticated"
    return {
        "errors": [
            {
                "message": message,
                "extensions": _extensions(
                    "authentication error",
                    "AUTHENTICATION_ERROR",
                    401,
                    "You need to authenticate to access this operation.",
                ),
            }
        ]
    }


def ratelimited_body() -> dict[str, Any]:
    """Return the body Linear sends with HTTP 400 when a rate limit is used up."""
    return {
        "errors": [
            {
                "message": "Rate limit exceeded",
                "extensions": {
                    "code": "RATELIMITED",
                    "type": "ratelimited",
                    "userError": True,
                    "userPresentableMessage": "Rate limit exceeded",
                },
            }
        ],
        "data": None,
    }


def internal_error_body() -> dict[str, Any]:
    """Return a body for a server-side failure, with data null."""
    # A stand-in body: only the "internal error" type name comes from Linear's SDK.
    return {
        "errors": [
            {
                "message": "Internal server error",
                "extensions": {
                    "type": "internal error",
                    "code": "INTERNAL_SERVER_ERROR",
                    "userError": False,
                    "userPresentableMessage": "An unexpected error occurred.",
                },
            }
        ],
        "data": None,
    }


def http_status(error: GraphQLError) -> int | None:
    """Return the HTTP status an error sets in extensions.http, or None."""
    http = (error.extensions or {}).get("http")
    if isinstance(http, dict) and isinstance(http.get("status"), int):
        return int(http["status"])
    return None
