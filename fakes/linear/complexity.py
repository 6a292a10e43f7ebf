"""Query cost by Linear's published rule, and the hourly rate-limit buckets.

Cost rule, as quoted from https://linear.app/developers/rate-limiting: each
scalar or enum property costs 0.1, each object costs 1, and a connection
multiplies the cost of its nodes or edges by its page size (`first` or
`last`, default 50). Linear's worked example,
`createdIssues { nodes { id title createdAt } }`, costs 1 + 50 * (1 + 0.3)
= 66, or 14 with `first: 10`. The rule does not cover two cases, which the
fake prices as follows: introspection fields are free, and a plain list of
objects that is not a connection costs one object.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
    value_from_ast,
    value_from_ast_untyped,
)

from fakes.linear.connections import DEFAULT_PAGE_SIZE, check_page_size

SCALAR_COST = 0.1
OBJECT_COST = 1.0


def estimate_complexity(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> float:
    """Return the cost of the operation, or raise an INPUT_ERROR for a bad page size.

    The document must already be valid against schema.
    """
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0.0
    root = _root_type(schema, operation)
    if root is None:
        return 0.0
    fragments = {
        d.name.value: d
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    walker = _CostWalker(schema, fragments, _variables(operation, variables))
    return walker.selection_cost(operation.selection_set, root, page_size=None)


class _CostWalker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def selection_cost(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType,
        page_size: int | None,
    ) -> float:
        """Sum the cost of a selection set on parent.

        page_size is set while walking a connection's own fields, where it
        multiplies the `nodes` and `edges` lists.
        """
        if selection_set is None:
            return 0.0
        total = 0.0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent, page_size)
            elif isinstance(selection, InlineFragmentNode):
                target = parent
                if selection.type_condition is not None:
                    named = self.schema.get_type(selection.type_condition.name.value)
                    target = named or parent
                total += self.selection_cost(selection.selection_set, target, page_size)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                named = self.schema.get_type(fragment.type_condition.name.value)
                total += self.selection_cost(
                    fragment.selection_set, named or parent, page_size
                )
        return total

    def field_cost(
        self, node: FieldNode, parent: GraphQLNamedType, page_size: int | None
    ) -> float:
        name = node.name.value
        if name.startswith("__"):
            return 0.0
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return 0.0
        field = parent.fields.get(name)
        if field is None:
            return 0.0
        named = get_named_type(field.type)
        if is_leaf_type(named):
            return SCALAR_COST
        if _is_connection_type(named):
            size = self._page_size(node)
            return OBJECT_COST + self.selection_cost(node.selection_set, named, size)
        children = self.selection_cost(node.selection_set, named, page_size=None)
        if page_size is not None and name in ("nodes", "edges"):
            return page_size * (OBJECT_COST + children)
        return OBJECT_COST + children

    def _page_size(self, node: FieldNode) -> int:
        sizes: dict[str, int | None] = {"first": None, "last": None}
        for argument in node.arguments or ():
            if argument.name.value in sizes:
                value = value_from_ast(argument.value, GraphQLInt, self.variables)
                # A variable of the wrong type is left to execution, which
                # rejects it with a variable error.
                if isinstance(value, int) and not isinstance(value, bool):
                    sizes[argument.name.value] = value
        for name, size in sizes.items():
            check_page_size(name, size)
        size = sizes["first"] if sizes["first"] is not None else sizes["last"]
        return DEFAULT_PAGE_SIZE if size is None else size


def _is_connection_type(named: GraphQLNamedType) -> bool:
    return (
        isinstance(named, GraphQLObjectType)
        and named.name.endswith("Connection")
        and "pageInfo" in named.fields
    )


def _root_type(
    schema: GraphQLSchema, operation: OperationDefinitionNode
) -> GraphQLObjectType | None:
    roots = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }
    return roots[operation.operation.value]


def _variables(
    operation: OperationDefinitionNode, given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return the request's variables, with the operation's defaults filled in."""
    values = dict(given or {})
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


@dataclass(frozen=True)
class RateLimits:
    """Hourly budgets of one API key.

    The defaults, 2,500 requests and 3,000,000 complexity points per hour, are
    the API-key values quoted from Linear's rate-limiting page. Quotes of the
    same page also give 5,000 requests per hour, so the request limit is
    uncertain.
    """

    requests_per_hour: int = 2_500
    complexity_per_hour: int = 3_000_000


@dataclass(frozen=True)
class BucketState:
    """A bucket's limit, what remains of it, and when it is full again (epoch ms)."""

    limit: int
    remaining: int
    reset_ms: int


class LeakyBucket:
    """A budget that refills at limit per hour, as Linear's leaky buckets do."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._level = float(limit)
        self._updated = clock()

    def take(self, amount: float) -> bool:
        """Spend amount if it is available and return whether it was."""
        self._refill()
        if amount > self._level:
            return False
        self._level -= amount
        return True

    def state(self) -> BucketState:
        """Return the bucket's current state for the response headers."""
        self._refill()
        missing = self.limit - self._level
        seconds_to_full = missing / self.limit * 3600
        reset_ms = round((self._clock() + seconds_to_full) * 1000)
        return BucketState(self.limit, int(self._level), reset_ms)

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._level = min(self.limit, self._level + elapsed * self.limit / 3600)
        self._updated = now


class RateLimiter:
    """The request and complexity buckets of the one API key the fake accepts."""

    def __init__(
        self, limits: RateLimits, clock: Callable[[], float] = time.time
    ) -> None:
        self._lock = threading.Lock()
        self.requests = LeakyBucket(limits.requests_per_hour, clock)
        self.complexity = LeakyBucket(limits.complexity_per_hour, clock)

    def allow(self, complexity: float) -> bool:
        """Charge one request and its complexity; False when a budget is used up."""
        with self._lock:
            if not self.requests.take(1):
                return False
            return self.complexity.take(complexity)

    def headers(self, complexity: float | None) -> dict[str, str]:
        """Return the X-RateLimit-* and X-Complexity headers of a response."""
        with self._lock:
            requests = self.requests.state()
            points = self.complexity.state()
        headers = {
            "X-RateLimit-Requests-Limit": str(requests.limit),
            "X-RateLimit-Requests-Remaining": str(requests.remaining),
            "X-RateLimit-Requests-Reset": str(requests.reset_ms),
            "X-RateLimit-Complexity-Limit": str(points.limit),
            "X-RateLimit-Complexity-Remaining": str(points.remaining),
            "X-RateLimit-Complexity-Reset": str(points.reset_ms),
        }
        if complexity is not None:
            headers["X-Complexity"] = str(round(complexity))
        return headers
