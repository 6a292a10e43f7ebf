"""The body of `POST /v2/objects/{object}/records/query`: filter, sorts, limit, offset.

Filters follow Attio's two syntaxes. The shorthand `{"name": "Acme"}` tests
equality with the attribute's main field (the title of a status or select,
the full name of a personal name, the target id of a reference). The verbose
form applies operators, optionally to one field of the value:
`{"created_at": {"$gt": "2026-01-01T00:00:00.000000000Z"}}`,
`{"name": {"full_name": {"$eq": "Ada Lovelace"}}}`,
`{"record_id": {"$in": [...]}}`, joined with `$and`, `$or` and `$not`.
A multi-value attribute matches when any of its active values does.

Every body error is a 400 `filter_error`, the only 400 code that Attio's
OpenAPI description lists for this operation.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakes.attio.errors import filter_error
from fakes.attio.store import AttioStore, StoredRecord
from fakes.attio.values import AttributeSpec, JsonObject, comparable, parse_timestamp

DEFAULT_LIMIT = 500
BODY_FIELDS = ("filter", "sorts", "limit", "offset")
ORDERED_TYPES = ("number", "rating", "currency", "timestamp", "date")
TEXT_OPERATORS = ("$contains", "$starts_with", "$ends_with")
ORDER_OPERATORS = ("$gt", "$gte", "$lt", "$lte")
OPERATORS = ("$eq", "$in", "$not_empty", *ORDER_OPERATORS, *TEXT_OPERATORS)
# The record's id is filterable and sortable like an attribute, but is no value.
RECORD_ID = "record_id"


@dataclass(frozen=True)
class RecordQuery:
    """A parsed query body, with Attio's defaults filled in."""

    filter: JsonObject | None
    sorts: list[JsonObject]
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_query_body(body: Any) -> RecordQuery:
    """Check the JSON body's types and return the query, or raise a 400 filter_error.

    NOTE: unknown top-level fields are rejected so that a misspelt paging
    field fails loudly here. Whether Attio rejects or ignores them is not
    documented.
    """
    if not isinstance(body, dict):
        raise filter_error("The request body must be a JSON object.")
    unknown = sorted(set(body) - set(BODY_FIELDS))
    if unknown:
        raise filter_error(
            f"Unknown body fields {unknown}; expected {list(BODY_FIELDS)}."
        )
    raw_filter = body.get("filter")
    if raw_filter is not None and not isinstance(raw_filter, dict):
        raise filter_error("filter must be a JSON object.")
    sorts = body.get("sorts") or []
    if not isinstance(sorts, list) or not all(isinstance(s, dict) for s in sorts):
        raise filter_error("sorts must be an array of objects.")
    return RecordQuery(
        filter=raw_filter or None,
        sorts=sorts,
        limit=_count(body, "limit", DEFAULT_LIMIT),
        offset=_count(body, "offset", 0),
    )


def run_query(
    store: AttioStore, object_slug: str, query: RecordQuery
) -> list[StoredRecord]:
    """Return one page of the object's records that match the filter, in sort order.

    Without sorts the records come in created_at order. Ties in every sort
    are broken by record_id, so that offset paging is stable.
    """
    with store.lock:
        attributes = store.attributes(object_slug)
        for sort in query.sorts:
            _check_sort(sort, attributes)
        records = store.records(object_slug)
        if query.filter is not None:
            condition = query.filter
            records = [r for r in records if _matches(r, condition, attributes)]
        ordered = _sorted(records, query.sorts, attributes)
        return ordered[query.offset : query.offset + query.limit]


def _count(body: JsonObject, name: str, default: int) -> int:
    raw = body.get(name, default)
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw != int(raw):
        raise filter_error(f"{name} must be a whole number, not {raw!r}.")
    if raw < 0:
        raise filter_error(f"{name} must not be negative, got {raw}.")
    return int(raw)


# Filtering


def _matches(
    record: StoredRecord, condition: Any, attributes: dict[str, AttributeSpec]
) -> bool:
    if not isinstance(condition, dict):
        raise filter_error(f"Each filter must be a JSON object, not {condition!r}.")
    for key, operand in condition.items():
        if not _matches_key(record, key, operand, attributes):
            return False
    return True


def _matches_key(
    record: StoredRecord, key: str, operand: Any, attributes: dict[str, AttributeSpec]
) -> bool:
    if key in ("$and", "$or"):
        if not isinstance(operand, list):
            raise filter_error(f"{key} takes an array of filters.")
        results = [_matches(record, part, attributes) for part in operand]
        return all(results) if key == "$and" else any(results)
    if key == "$not":
        return not _matches(record, operand, attributes)
    if key.startswith("$"):
        raise filter_error(f"Unknown logical operator {key!r}; use $and, $or or $not.")
    if key == "path":
        # NOTE: Attio can filter through references with {"path", "constraints"},
        # which the fake cannot.
        raise filter_error("Path filters are not supported by this fake.")
    if key == RECORD_ID:
        entries = [{"attribute_type": "text", "value": record.record_id}]
        return _attribute_matches(key, "text", entries, operand)
    spec = attributes.get(key)
    if spec is None:
        raise filter_error(f"Unknown attribute {key!r} in filter.")
    active = [e for e in record.values[key] if e["active_until"] is None]
    return _attribute_matches(key, spec.attribute_type, active, operand)


def _attribute_matches(
    slug: str, kind: str, entries: list[JsonObject], operand: Any
) -> bool:
    if not isinstance(operand, dict):
        target = _operand(slug, kind, None, operand)
        return any(_equal(_field(entry, None), target) for entry in entries)
    if "$not_empty" in operand:
        expect_values = operand["$not_empty"]
        if not isinstance(expect_values, bool):
            raise filter_error(f"{slug}: $not_empty takes true or false.")
        if bool(entries) != expect_values:
            return False
    tests = _entry_tests(slug, kind, operand)
    if not tests:
        return True
    return any(all(test(entry) for test in tests) for entry in entries)


EntryTest = Callable[[JsonObject], bool]


def _entry_tests(slug: str, kind: str, operand: JsonObject) -> list[EntryTest]:
    tests: list[EntryTest] = []
    for key, value in operand.items():
        if key == "$not_empty":
            continue
        if key.startswith("$"):
            tests.append(_operator_test(slug, kind, None, key, value))
        elif isinstance(value, dict):
            for operator, argument in value.items():
                tests.append(_operator_test(slug, kind, key, operator, argument))
        else:
            tests.append(_operator_test(slug, kind, key, "$eq", value))
    return tests


def _operator_test(
    slug: str, kind: str, field: str | None, operator: str, argument: Any
) -> EntryTest:
    if operator not in OPERATORS or operator == "$not_empty":
        raise filter_error(
            f"{slug}: unsupported operator {operator!r}; use {list(OPERATORS)}."
        )
    if operator == "$in":
        if not isinstance(argument, list):
            raise filter_error(f"{slug}: $in takes an array.")
        targets = [_operand(slug, kind, field, item) for item in argument]
        return lambda entry: any(_equal(_field(entry, field), t) for t in targets)
    target = _operand(slug, kind, field, argument)
    if operator == "$eq":
        return lambda entry: _equal(_field(entry, field), target)
    if operator in TEXT_OPERATORS:
        if not isinstance(target, str):
            raise filter_error(f"{slug}: {operator} takes a string.")
        return _text_test(field, operator, target.lower())
    if kind not in ORDERED_TYPES or isinstance(target, str) and kind != "date":
        raise filter_error(
            f"{slug}: {operator} needs a number, date or timestamp attribute."
        )
    return _order_test(field, operator, target)


def _text_test(field: str | None, operator: str, needle: str) -> EntryTest:
    def test(entry: JsonObject) -> bool:
        value = _field(entry, field)
        if not isinstance(value, str):
            return False
        text = value.lower()
        if operator == "$contains":
            return needle in text
        if operator == "$starts_with":
            return text.startswith(needle)
        return text.endswith(needle)

    return test


def _order_test(field: str | None, operator: str, target: Any) -> EntryTest:
    def test(entry: JsonObject) -> bool:
        value = _field(entry, field)
        if value is None:
            return False
        if operator == "$gt":
            return bool(value > target)
        if operator == "$gte":
            return bool(value >= target)
        if operator == "$lt":
            return bool(value < target)
        return bool(value <= target)

    return test


def _field(entry: JsonObject, field: str | None) -> Any:
    if field is None or (field == "value" and entry["attribute_type"] == "timestamp"):
        return comparable(entry)
    value = entry.get(field)
    if isinstance(value, dict) and "title" in value:
        return value["title"]
    return value


def _operand(slug: str, kind: str, field: str | None, raw: Any) -> Any:
    """Convert a filter value to what the entry's field compares against."""
    if kind == "timestamp" and field in (None, "value"):
        if not isinstance(raw, str):
            raise filter_error(f"{slug}: a timestamp filter takes an ISO 8601 string.")
        try:
            return parse_timestamp(raw)
        except ValueError as exc:
            raise filter_error(f"{slug}: {exc}") from None
    if isinstance(raw, dict | list):
        raise filter_error(f"{slug}: unexpected {type(raw).__name__} value {raw!r}.")
    return raw


def _equal(value: Any, target: Any) -> bool:
    if isinstance(value, str) and isinstance(target, str) and "@" in target:
        # Email addresses compare without regard to case.
        return value.lower() == target.lower()
    return bool(value == target)


# Sorting


def _check_sort(sort: JsonObject, attributes: dict[str, AttributeSpec]) -> None:
    if sort.get("direction") not in ("asc", "desc"):
        raise filter_error(
            f"Sort direction must be 'asc' or 'desc', not {sort.get('direction')!r}."
        )
    if "path" in sort:
        # NOTE: Attio sorts through references with `path`, which the fake cannot.
        raise filter_error("Sorting by path is not supported by this fake.")
    attribute = sort.get("attribute")
    if attribute != RECORD_ID and attribute not in attributes:
        raise filter_error(f"Unknown sort attribute {attribute!r}.")


def _sorted(
    records: list[StoredRecord],
    sorts: list[JsonObject],
    attributes: dict[str, AttributeSpec],
) -> list[StoredRecord]:
    ordered = sorted(records, key=lambda r: r.record_id)
    if not sorts:
        return sorted(ordered, key=lambda r: r.created_ns)
    # Stable sorts applied from the last key to the first give a multi-key order.
    for sort in reversed(sorts):
        descending = sort["direction"] == "desc"
        key = _sort_key(sort["attribute"], sort.get("field"), descending)
        ordered = sorted(ordered, key=key, reverse=descending)
    return ordered


def _sort_key(
    attribute: str, field: str | None, descending: bool
) -> Callable[[StoredRecord], Any]:
    def key(record: StoredRecord) -> Any:
        if attribute == RECORD_ID:
            value: Any = record.record_id
        else:
            active = [e for e in record.values[attribute] if e["active_until"] is None]
            value = _field(active[0], field) if active else None
        # Records without a value go last in both directions.
        missing = value is None
        return (not missing, value) if descending else (missing, value)

    return key
