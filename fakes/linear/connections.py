"""Relay connections over lists of GraphQL objects: filters, order and paging.

Order: `orderBy: createdAt` (the default) and `orderBy: updatedAt` both sort
newest first, with ties broken by descending id, so every list has one total
order. Linear's docs only say that updatedAt ordering gives "the most recently
updated resources"; the sync must not depend on the direction.

Cursors are opaque to clients. Each one is the base64url text of
`[order, time in ms, id]` of a node, and `after` returns the nodes that sort
after that key. A node changed during a walk therefore moves to the front of
an updatedAt walk without shifting the other nodes, so no unchanged node is
skipped or repeated.
"""

import base64
import binascii
import json
import operator
import re
from collections.abc import Callable
from typing import Any

from fakes.linear.errors import input_error
from fakes.linear.models import parse_time

JsonObject = dict[str, Any]
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 250
# Key of the hidden entry in each GraphQL object that stores its sort times in ms.
SORT_TIMES = "_sort_times"
ORDER_FIELDS = ("createdAt", "updatedAt")
DATE_OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "nin")
ID_OPERATORS = ("eq", "neq", "in", "nin")
DURATION = re.compile(
    r"^(?P<sign>[-+])?P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?"
    r"(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
# Durations count a year as 365 days and a month as 30 days, so "P1M" may
# differ by a day or two from Linear's calendar arithmetic.
DURATION_MS = {
    "years": 365 * 86_400_000,
    "months": 30 * 86_400_000,
    "weeks": 7 * 86_400_000,
    "days": 86_400_000,
    "hours": 3_600_000,
    "minutes": 60_000,
    "seconds": 1000,
}


def check_page_size(name: str, value: int | None) -> None:
    """Raise an INPUT_ERROR for a `first` or `last` outside 0..MAX_PAGE_SIZE."""
    if value is None:
        return
    if value < 0:
        raise input_error(f"Argument {name} must not be negative, got {value}.")
    if value > MAX_PAGE_SIZE:
        # NOTE: the limit of 250 is widely reported for Linear but not confirmed
        # by its docs, and the message is a stand-in.
        raise input_error(
            f"Argument {name} must be at most {MAX_PAGE_SIZE}, got {value}."
        )


def encode_cursor(order: str, node: JsonObject) -> str:
    """Return the opaque cursor of node in a list sorted by order."""
    key = [order, node[SORT_TIMES][order], node["id"]]
    text = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(order: str, cursor: str) -> tuple[int, str]:
    """Return the (time, id) key of a cursor, or raise an INPUT_ERROR."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_order, time_ms, node_id = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise input_error(f"Invalid cursor {cursor!r}.") from exc
    if cursor_order != order or not isinstance(time_ms, int):
        raise input_error(
            f"Cursor {cursor!r} belongs to a list ordered by {cursor_order},"
            f" not {order}."
        )
    return time_ms, str(node_id)


def paginate(nodes: list[JsonObject], args: dict[str, Any], now_ms: int) -> JsonObject:
    """Apply a connection's arguments to nodes and return the connection object.

    Honours includeArchived (default false hides nodes with archivedAt set),
    includeDisabled (users only), filter, orderBy, first, after, last and
    before. Without first and last the page contains DEFAULT_PAGE_SIZE nodes.
    """
    visible = nodes
    if not args.get("includeArchived"):
        visible = [n for n in visible if n.get("archivedAt") is None]
    if "includeDisabled" in args and not args["includeDisabled"]:
        visible = [n for n in visible if n.get("active", True)]
    if args.get("filter"):
        matcher = compile_filter(args["filter"], now_ms)
        visible = [n for n in visible if matcher(n)]
    order = args.get("orderBy") or "createdAt"

    def sort_key(node: JsonObject) -> tuple[int, str]:
        return node[SORT_TIMES][order], node["id"]

    ordered = sorted(visible, key=sort_key, reverse=True)
    start, end = 0, len(ordered)
    if args.get("after"):
        after_key = decode_cursor(order, args["after"])
        start = sum(1 for n in ordered if sort_key(n) >= after_key)
    if args.get("before"):
        before_key = decode_cursor(order, args["before"])
        end = sum(1 for n in ordered if sort_key(n) > before_key)
    end = max(start, end)
    first, last = args.get("first"), args.get("last")
    check_page_size("first", first)
    check_page_size("last", last)
    if first is None and last is None:
        first = DEFAULT_PAGE_SIZE
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    page = ordered[start:end]
    edges = [{"cursor": encode_cursor(order, n), "node": n} for n in page]
    return {
        "nodes": page,
        "edges": edges,
        "pageInfo": {
            "hasNextPage": end < len(ordered),
            "hasPreviousPage": start > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


Matcher = Callable[[JsonObject], bool]


def compile_filter(spec: JsonObject, now_ms: int) -> Matcher:
    """Turn a Linear filter input into a test on GraphQL objects.

    Supports id, createdAt and updatedAt comparators, combined with `and` and
    `or` lists. Any other filter field is rejected with an INPUT_ERROR so that
    a client never gets silently unfiltered data from the fake.
    """
    tests: list[Matcher] = []
    for name, value in spec.items():
        if value is None:
            continue
        if name in ("and", "or"):
            parts = [compile_filter(part, now_ms) for part in value]
            tests.append(_combine(parts, all if name == "and" else any))
        elif name == "id":
            tests.append(_id_test(value))
        elif name in ORDER_FIELDS:
            tests.append(_date_test(name, value, now_ms))
        else:
            raise input_error(
                f"The fake Linear API does not support filtering on {name!r};"
                " it supports id, createdAt, updatedAt, and, or."
            )
    return lambda node: all(test(node) for test in tests)


def _id_test(comparator: JsonObject) -> Matcher:
    _check_operators("id", comparator, ID_OPERATORS)
    return _comparison(lambda node: node["id"], comparator)


def _date_test(name: str, comparator: JsonObject, now_ms: int) -> Matcher:
    _check_operators(name, comparator, DATE_OPERATORS)
    converted: JsonObject = {}
    for op, value in comparator.items():
        if value is None:
            continue
        if op in ("in", "nin"):
            converted[op] = [parse_date_or_duration(v, now_ms) for v in value]
        else:
            converted[op] = parse_date_or_duration(value, now_ms)
    return _comparison(lambda node: node[SORT_TIMES][name], converted)


def _combine(parts: list[Matcher], combine: Callable[[Any], bool]) -> Matcher:
    return lambda node: combine(part(node) for part in parts)


COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "in": lambda actual, expected: actual in expected,
    "nin": lambda actual, expected: actual not in expected,
}


def _comparison(read: Callable[[JsonObject], Any], comparator: JsonObject) -> Matcher:
    active = [
        (COMPARISONS[op], expected)
        for op, expected in comparator.items()
        if expected is not None
    ]
    return lambda node: all(check(read(node), expected) for check, expected in active)


def _check_operators(name: str, comparator: JsonObject, known: tuple[str, ...]) -> None:
    unknown = sorted(set(comparator) - set(known))
    if unknown:
        raise input_error(
            f"The fake Linear API does not support {unknown} on {name!r};"
            f" it supports {list(known)}."
        )


def parse_date_or_duration(value: str, now_ms: int) -> int:
    """Parse a DateTimeOrDuration: an ISO 8601 date-time, or a duration from now.

    "-P2W" means two weeks before now and "P1D" one day after now.
    """
    match = DURATION.match(value)
    if match and value.lstrip("+-") != "P":
        parts = match.groupdict()
        offset = sum(
            float(parts[unit]) * size
            for unit, size in DURATION_MS.items()
            if parts[unit] is not None
        )
        sign = -1 if parts["sign"] == "-" else 1
        return now_ms + sign * round(offset)
    try:
        return parse_time(value)
    except ValueError as exc:
        raise input_error(
            f"Invalid date {value!r}; send an ISO 8601 date-time or a duration"
            " such as -P2W."
        ) from exc
