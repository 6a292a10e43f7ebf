"""The fake's HTTP API: Linear's single GraphQL endpoint, `POST /graphql`.

Each request goes through these checks, in order:
1. The `Authorization` header must contain the API key, bare or after
   "Bearer ". Otherwise the response is the authentication error (HTTP 401).
2. The body must be JSON `{query, variables, operationName}`, and the query
   must parse and validate against Linear's schema. Otherwise the response is
   HTTP 400 with `errors` and no `data`.
3. The query's cost (see fakes.linear.complexity) must not exceed 10,000.
   Otherwise the response is HTTP 400 "Query too complex".
4. The hourly request and complexity budgets must not be used up. Otherwise
   the response is HTTP 400 RATELIMITED.
5. graphql-core executes the query over the store.
Every response has the X-RateLimit-Requests-* and X-RateLimit-Complexity-*
headers, and X-Complexity once the cost is known.
"""

import hmac
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute_sync,
    parse,
    validate,
)

from fakes.common.churn import Churn, install_churn
from fakes.common.faults import FaultPlan, RequestStats, install_faults
from fakes.linear.complexity import RateLimiter, RateLimits, estimate_complexity
from fakes.linear.errors import (
    MAX_COMPLEXITY,
    authentication_body,
    error_body,
    http_status,
    input_error,
    ratelimited_body,
    too_complex_error,
)
from fakes.linear.faults import linear_injector, make_responder
from fakes.linear.graph import GraphView, resolve_field
from fakes.linear.store import LinearStore

log = structlog.get_logger(__name__)

DEFAULT_SCHEMA_PATH = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "specs"
    / "linear-schema.graphql"
)  # fmt: skip
BEARER_PREFIX = "Bearer "


@lru_cache(maxsize=4)
def load_schema(path: Path = DEFAULT_SCHEMA_PATH) -> GraphQLSchema:
    """Build the GraphQL schema from an SDL file, once per path.

    Linear's schema is about 1.2 MB of SDL and takes seconds to build.
    """
    return build_schema(path.read_text(encoding="utf-8"))


def create_app(
    store: LinearStore,
    *,
    api_key: str,
    faults: FaultPlan | None = None,
    schema: GraphQLSchema | Path | None = None,
    rate_limits: RateLimits | None = None,
) -> FastAPI:
    """Build the fake Linear API over store, accepting one API key.

    schema is a built schema or the path of an SDL file; the default is
    DEFAULT_SCHEMA_PATH. faults is the initial FaultPlan, which
    `POST /__fake__/faults` replaces at run time. `app.state.faults` (a
    FaultInjector), `app.state.stats` (a RequestStats) and `app.state.churn`
    (a Churn driven by store.mutate) give tests the same control without HTTP.
    """
    if not api_key:
        raise ValueError("api_key must not be empty")
    if not isinstance(schema, GraphQLSchema):
        schema = load_schema((schema or DEFAULT_SCHEMA_PATH).resolve())
    app = FastAPI(title="Fake Linear GraphQL API", docs_url=None, redoc_url=None)
    limiter = RateLimiter(rate_limits or RateLimits())
    injector = linear_injector(faults)
    stats = RequestStats()
    churn = Churn(store.mutate)
    app.state.store = store
    app.state.faults = injector
    app.state.stats = stats
    app.state.churn = churn
    app.state.limiter = limiter
    install_faults(app, injector, stats, make_responder(limiter))
    install_churn(app, churn)
    endpoint = _GraphQLEndpoint(store, schema, api_key, limiter)

    @app.post("/graphql")
    async def graphql_endpoint(request: Request) -> JSONResponse:
        return endpoint.handle(
            request.headers.get("authorization"), await request.body()
        )

    return app


class _GraphQLEndpoint:
    def __init__(
        self,
        store: LinearStore,
        schema: GraphQLSchema,
        api_key: str,
        limiter: RateLimiter,
    ) -> None:
        self.store = store
        self.schema = schema
        self.api_key = api_key
        self.limiter = limiter

    def handle(self, authorization: str | None, raw_body: bytes) -> JSONResponse:
        if not self._authorized(authorization):
            log.info("fake.linear.unauthenticated")
            return self._answer(authentication_body(), 401, None)
        try:
            query, variables, operation_name = _read_request(raw_body)
            document = self._parse(query)
            complexity = estimate_complexity(
                self.schema, document, operation_name, variables
            )
        except GraphQLError as error:
            log.info("fake.linear.request_rejected", error=error.message)
            return self._answer(error_body(error), http_status(error) or 400, None)
        if complexity > MAX_COMPLEXITY:
            log.info("fake.linear.query_too_complex", complexity=complexity)
            body = error_body(too_complex_error(complexity))
            return self._answer(body, 400, complexity)
        if not self.limiter.allow(complexity):
            log.info("fake.linear.rate_limited", complexity=complexity)
            return self._answer(ratelimited_body(), 400, complexity)
        result = self._execute(document, variables, operation_name)
        body = dict(result.formatted)
        return self._answer(body, _result_status(result), complexity)

    def _authorized(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        token = authorization.removeprefix(BEARER_PREFIX)
        return hmac.compare_digest(token.encode(), self.api_key.encode())

    def _parse(self, query: str) -> DocumentNode:
        try:
            document = parse(query)
        except GraphQLError as error:
            error.extensions = {"code": "GRAPHQL_PARSE_FAILED", "type": "graphql error"}
            raise
        errors = validate(self.schema, document)
        if errors:
            # NOTE: the extensions follow Apollo Server's validation errors; the
            # exact extensions Linear adds to them are not confirmed.
            first = errors[0]
            first.extensions = {
                "code": "GRAPHQL_VALIDATION_FAILED",
                "type": "graphql error",
            }
            raise first
        return document

    def _execute(
        self,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> ExecutionResult:
        with self.store.lock:
            view = GraphView(self.store)
            result = execute_sync(
                self.schema,
                document,
                root_value=view.root(),
                context_value=view,
                variable_values=variables,
                operation_name=operation_name,
                field_resolver=resolve_field,
            )
        for error in result.errors or []:
            if error.original_error is not None and not isinstance(
                error.original_error, GraphQLError
            ):
                log.warning(
                    "fake.linear.resolver_failed",
                    error=repr(error.original_error),
                    path=error.path,
                )
        return result

    def _answer(
        self, body: dict[str, Any], status: int, complexity: float | None
    ) -> JSONResponse:
        headers = self.limiter.headers(complexity)
        return JSONResponse(js_numbers(body), status, headers=headers)


def js_numbers(value: Any) -> Any:
    """Turn whole floats into ints, as JavaScript's JSON output writes 123, not 123.0.

    Linear's server runs on Node.js, so `Float` fields such as Issue.number
    arrive as 123.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: js_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [js_numbers(item) for item in value]
    return value


def _read_request(raw_body: bytes) -> tuple[str, dict[str, Any] | None, str | None]:
    """Return query, variables and operationName of a GraphQL request body."""
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise input_error("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise input_error("The request body must be a JSON object.")
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise input_error("The request body has no query string.")
    variables = body.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise input_error("variables must be a JSON object.")
    operation_name = body.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise input_error("operationName must be a string.")
    return query, variables, operation_name


def _result_status(result: ExecutionResult) -> int:
    """Return the HTTP status of an executed query's response.

    That is the status an error sets in extensions.http, else 400 when the
    variables were invalid, else 200.
    """
    for error in result.errors or []:
        status = http_status(error)
        if status is not None:
            return status
    if result.data is None and result.errors and not result.errors[0].path:
        # Variable coercion failed, so nothing was executed.
        return 400
    return 200
