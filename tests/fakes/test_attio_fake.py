"""The fake Attio API: wire format against the OpenAPI spec, paging, filters, faults,
history, churn, the Maven CRM loader, the demo set and the CLI."""

import base64
import copy
import functools
import json
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from fakes.attio import datasets
from fakes.attio.__main__ import build_store, parse_args
from fakes.attio.app import create_app
from fakes.attio.faults import FAULT_KINDS
from fakes.attio.objects import DEAL_STAGES, object_id
from fakes.attio.store import AttioStore
from fakes.attio.values import format_timestamp, parse_timestamp
from fakes.common.faults import FaultPlan
from fakes.openai.server import serve_in_thread

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = REPO_ROOT / ".." / "shared" / "data" / "real"
MAVEN_DIR = REAL_DATA / "crm"
SPEC = REPO_ROOT / ".." / "shared" / "specs" / "attio-openapi.json"

TOKEN = "attio-test-token"
QUERY_PATH = "/v2/objects/{object}/records/query"
RECORD_PATH = "/v2/objects/{object}/records/{record_id}"
VALUES_PATH = "/v2/objects/{object}/records/{record_id}/attributes/{attribute}/values"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$")
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)
RATE_LIMIT_BODY = {
    "status_code": 429,
    "type": "rate_limit_error",
    "code": "rate_limit_exceeded",
    "message": "Rate limit exceeded, please try again later",
}
# The errors that the spec does not describe (401, 429, 500) are checked
# against the envelope that every documented Attio error shares.
ERROR_ENVELOPE = {
    "type": "object",
    "properties": {
        "status_code": {"type": "number"},
        "type": {"type": "string"},
        "code": {"type": "string"},
        "message": {"type": "string"},
    },
    "required": ["status_code", "type", "code", "message"],
    "additionalProperties": False,
}
NO_TOKEN = {"Authorization": ""}


# Validation against the saved Attio OpenAPI spec


def openapi_to_json_schema(node: Any) -> Any:
    """Turn OpenAPI 3.0 `nullable: true` into a JSON Schema type that allows null.

    Attio's spec is OpenAPI 3.1, where `nullable` means nothing, yet it marks
    `created_by_actor.id` with it. Attio sends `{"type": "system", "id": null}`,
    so the keyword is applied as its authors meant.
    """
    if isinstance(node, list):
        return [openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: openapi_to_json_schema(value) for key, value in node.items()}
    if converted.pop("nullable", False) and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    return converted


@functools.cache
def load_spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return spec


@functools.cache
def spec_validator(
    path: str, method: str, status: str
) -> jsonschema.Draft202012Validator:
    """Return a validator for one response of one operation, with $refs resolvable.

    Format keywords stay annotations: the spec gives timestamp values the
    format "date" although they carry a time, so they are checked separately.
    """
    spec = load_spec()
    response = spec["paths"][path][method]["responses"][status]
    schema = response["content"]["application/json"]["schema"]
    root = dict(openapi_to_json_schema(schema))
    root["components"] = openapi_to_json_schema(spec["components"])
    return jsonschema.Draft202012Validator(root)


def assert_timestamps(record: dict[str, Any]) -> None:
    assert TIMESTAMP.match(record["created_at"]), record["created_at"]
    for entries in record["values"].values():
        for entry in entries:
            assert TIMESTAMP.match(entry["active_from"]), entry
            until = entry["active_until"]
            assert until is None or TIMESTAMP.match(until), entry
            if entry["attribute_type"] == "timestamp":
                assert TIMESTAMP.match(entry["value"]), entry


# Fixtures and helpers


def make_client(
    store: AttioStore,
    faults: FaultPlan | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    app = create_app(store, api_token=TOKEN, faults=faults)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1:3003",
        headers={"Authorization": f"Bearer {TOKEN}"} if headers is None else headers,
    )


@pytest.fixture
def demo_store() -> AttioStore:
    store = AttioStore()
    datasets.generate_demo(store, seed=7)
    return store


@pytest.fixture
async def client(demo_store: AttioStore) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(demo_store) as http:
        yield http


@pytest.fixture(scope="module")
def maven_store() -> AttioStore:
    """The whole Maven CRM sample; tests must not change it."""
    store = AttioStore()
    datasets.load_maven_crm(store, MAVEN_DIR)
    return store


async def query(
    client: httpx.AsyncClient, object_slug: str, body: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    response = await client.post(
        QUERY_PATH.format(object=object_slug), json={} if body is None else body
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def record_ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["id"]["record_id"] for r in records]


def active(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["active_until"] is None]


def small_store() -> AttioStore:
    """Three companies with distinct creation times, for filter and sort tests."""
    store = AttioStore()
    base = parse_timestamp("2026-01-05T09:00:00.000000000Z")
    for index, name in enumerate(("Acme", "Globex", "Initech")):
        store.add_record(
            "companies",
            {"name": name, "domains": [f"{name.lower()}.example"]},
            created_at=base + index * 1_000,
        )
    return store


# Wire format against the spec


async def test_query_records_match_spec(client: httpx.AsyncClient) -> None:
    validator = spec_validator(QUERY_PATH, "post", "200")

    for object_slug in ("companies", "people", "deals"):
        response = await client.post(QUERY_PATH.format(object=object_slug), json={})

        assert response.status_code == 200
        body = response.json()
        validator.validate(body)
        assert body["data"], object_slug
        assert set(body) == {"data"}
        for record in body["data"]:
            assert_timestamps(record)


async def test_every_value_type_matches_spec(demo_store: AttioStore) -> None:
    """Check a person with a phone number, a location and a description set."""
    person = demo_store.records("people")[0].record_id
    demo_store.update_record(
        "people",
        person,
        {
            "phone_numbers": ["+79161234567"],
            "primary_location": {"locality": "Казань", "country_code": "RU"},
            "description": "Prefers Telegram",
        },
    )
    validator = spec_validator(RECORD_PATH, "get", "200")

    async with make_client(demo_store) as http:
        response = await http.get(RECORD_PATH.format(object="people", record_id=person))

    body = response.json()
    validator.validate(body)
    kinds = {
        entry["attribute_type"]
        for entries in body["data"]["values"].values()
        for entry in entries
    }
    assert kinds >= {
        "personal-name",
        "email-address",
        "record-reference",
        "phone-number",
        "location",
        "text",
        "timestamp",
        "actor-reference",
    }


async def test_maven_records_match_spec(maven_store: AttioStore) -> None:
    # Each company and person links to about a hundred deals, and validating
    # every entry against the 17-way oneOf is slow, so few of them are checked.
    validator = spec_validator(QUERY_PATH, "post", "200")
    limits = {"companies": 5, "people": 3, "deals": 300}

    async with make_client(maven_store) as http:
        for object_slug, limit in limits.items():
            body = (
                await http.post(
                    QUERY_PATH.format(object=object_slug), json={"limit": limit}
                )
            ).json()

            validator.validate(body)
            assert len(body["data"]) == limit


async def test_historic_entries_match_spec(demo_store: AttioStore) -> None:
    demo_store.include_historic = True
    validator = spec_validator(QUERY_PATH, "post", "200")

    async with make_client(demo_store) as http:
        body = (await http.post(QUERY_PATH.format(object="deals"), json={})).json()

    validator.validate(body)
    closed = [
        e
        for record in body["data"]
        for e in record["values"]["stage"]
        if e["active_until"] is not None
    ]
    assert closed


async def test_get_record_matches_spec(client: httpx.AsyncClient) -> None:
    (listed,) = await query(client, "deals", {"limit": 1})
    record_id = listed["id"]["record_id"]

    response = await client.get(RECORD_PATH.format(object="deals", record_id=record_id))

    assert response.status_code == 200
    spec_validator(RECORD_PATH, "get", "200").validate(response.json())
    assert response.json()["data"] == listed


async def test_attribute_values_match_spec(
    demo_store: AttioStore, client: httpx.AsyncClient
) -> None:
    deal = demo_store.records("deals")[0].record_id
    demo_store.update_record("deals", deal, {"stage": "Lost"})
    demo_store.update_record("deals", deal, {"stage": "Lead"})
    path = VALUES_PATH.format(object="deals", record_id=deal, attribute="stage")

    current = await client.get(path)
    history = await client.get(path, params={"show_historic": "true"})

    validator = spec_validator(VALUES_PATH, "get", "200")
    validator.validate(current.json())
    validator.validate(history.json())
    assert [e["status"]["title"] for e in current.json()["data"]] == ["Lead"]
    titles = [e["status"]["title"] for e in history.json()["data"]]
    assert titles[-2:] == ["Lost", "Lead"]
    starts = [e["active_from"] for e in history.json()["data"]]
    assert starts == sorted(starts)
    assert all(e["active_until"] for e in history.json()["data"][:-1])


async def test_workspace_members_match_spec(client: httpx.AsyncClient) -> None:
    listing = await client.get("/v2/workspace_members")
    first_id = listing.json()["data"][0]["id"]["workspace_member_id"]
    member = await client.get(f"/v2/workspace_members/{first_id}")
    missing = await client.get("/v2/workspace_members/not-a-member")

    spec_validator("/v2/workspace_members", "get", "200").validate(listing.json())
    spec_validator(
        "/v2/workspace_members/{workspace_member_id}", "get", "200"
    ).validate(member.json())
    assert len(listing.json()["data"]) == 4
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_not_found_errors_match_spec(client: httpx.AsyncClient) -> None:
    unknown_object = await client.post(QUERY_PATH.format(object="tickets"), json={})
    unknown_object_get = await client.get(
        RECORD_PATH.format(object="tickets", record_id="x")
    )
    unknown_record = await client.get(
        RECORD_PATH.format(
            object="deals", record_id="00000000-0000-4000-8000-000000000000"
        )
    )

    assert unknown_object.status_code == 404
    spec_validator(QUERY_PATH, "post", "404").validate(unknown_object.json())
    assert unknown_object_get.status_code == 404
    assert unknown_record.status_code == 404
    spec_validator(RECORD_PATH, "get", "404").validate(unknown_object_get.json())
    spec_validator(RECORD_PATH, "get", "404").validate(unknown_record.json())
    assert unknown_object.json()["type"] == "invalid_request_error"


async def test_object_id_accepted_in_path(client: httpx.AsyncClient) -> None:
    by_slug = await query(client, "deals")
    by_id = await query(client, object_id("deals"))

    assert record_ids(by_id) == record_ids(by_slug)
    assert by_slug[0]["id"]["object_id"] == object_id("deals")


async def test_unknown_route_uses_envelope(client: httpx.AsyncClient) -> None:
    response = await client.get("/v2/objects/deals/records")

    assert response.status_code in (404, 405)
    jsonschema.validate(response.json(), ERROR_ENVELOPE)


# Query body: paging, filters, sorts


async def test_body_paging_walks_all_records(
    demo_store: AttioStore, client: httpx.AsyncClient
) -> None:
    limit = 7
    seen: list[str] = []
    offset = 0
    pages = 0
    while True:
        page = await query(
            client,
            "deals",
            {
                "limit": limit,
                "offset": offset,
                "sorts": [{"attribute": "created_at", "direction": "asc"}],
            },
        )
        pages += 1
        seen.extend(record_ids(page))
        if len(page) < limit:
            break
        offset += limit

    expected = [r.record_id for r in demo_store.records("deals")]
    assert len(seen) == len(set(seen))
    assert sorted(seen) == sorted(expected)
    assert pages == len(expected) // limit + 1


async def test_query_string_paging_ignored(client: httpx.AsyncClient) -> None:
    everything = await query(client, "people")

    response = await client.post(
        QUERY_PATH.format(object="people"), params={"limit": 2, "offset": 5}, json={}
    )

    assert response.status_code == 200
    assert record_ids(response.json()["data"]) == record_ids(everything)
    assert len(everything) == 30


async def test_default_limit_is_500(maven_store: AttioStore) -> None:
    async with make_client(maven_store) as http:
        first = await query(http, "deals")
        last = await query(http, "deals", {"offset": 8_500, "limit": 500})
        beyond = await query(http, "deals", {"offset": 8_800})

    assert len(first) == 500
    assert len(last) == 300
    assert beyond == []


async def test_created_at_gt_and_gte() -> None:
    store = small_store()
    first, second, third = store.records("companies")
    watermark = format_timestamp(second.created_ns)

    async with make_client(store) as http:
        after = await query(
            http, "companies", {"filter": {"created_at": {"$gt": watermark}}}
        )
        from_ = await query(
            http, "companies", {"filter": {"created_at": {"$gte": watermark}}}
        )
        # One nanosecond before the second record still includes it with $gt.
        just_before = format_timestamp(second.created_ns - 1)
        after_just_before = await query(
            http, "companies", {"filter": {"created_at": {"$gt": just_before}}}
        )

    assert record_ids(after) == [third.record_id]
    assert record_ids(from_) == [second.record_id, third.record_id]
    assert record_ids(after_just_before) == [second.record_id, third.record_id]


async def test_created_at_lt_lte_eq_and_offsets() -> None:
    store = small_store()
    first, second, _ = store.records("companies")
    stamp = format_timestamp(second.created_ns)
    # The same instant written with a +03:00 offset and microseconds.
    shifted = "2026-01-05T12:00:00.000001+03:00"

    async with make_client(store) as http:
        before = await query(
            http, "companies", {"filter": {"created_at": {"$lt": stamp}}}
        )
        up_to = await query(
            http, "companies", {"filter": {"created_at": {"$lte": stamp}}}
        )
        exact = await query(
            http, "companies", {"filter": {"created_at": {"$eq": stamp}}}
        )
        shorthand = await query(http, "companies", {"filter": {"created_at": stamp}})
        by_offset = await query(
            http, "companies", {"filter": {"created_at": {"$eq": shifted}}}
        )

    assert record_ids(before) == [first.record_id]
    assert record_ids(up_to) == [first.record_id, second.record_id]
    assert record_ids(exact) == [second.record_id]
    assert record_ids(shorthand) == [second.record_id]
    assert record_ids(by_offset) == [second.record_id]


async def test_record_id_in_filter(client: httpx.AsyncClient) -> None:
    every = record_ids(await query(client, "deals"))
    requested = [every[3], every[0], "00000000-0000-4000-8000-000000000000"]

    found = await query(client, "deals", {"filter": {"record_id": {"$in": requested}}})

    assert sorted(record_ids(found)) == sorted(every[:1] + every[3:4])


async def test_shorthand_and_verbose_filters(
    demo_store: AttioStore, client: httpx.AsyncClient
) -> None:
    deals = demo_store.records("deals")
    lost = [
        d.record_id
        for d in deals
        if demo_store.active_value("deals", d.record_id, "stage") == "Lost"
    ]
    person = demo_store.records("people")[0]
    full_name = person.values["name"][0]["full_name"]
    email = person.values["email_addresses"][0]["email_address"]

    by_stage = await query(client, "deals", {"filter": {"stage": "Lost"}})
    by_name = await query(client, "people", {"filter": {"name": full_name}})
    by_email = await query(
        client, "people", {"filter": {"email_addresses": email.upper()}}
    )
    verbose = await query(
        client,
        "people",
        {"filter": {"$and": [{"name": {"full_name": {"$eq": full_name}}}]}},
    )
    not_lost = await query(client, "deals", {"filter": {"$not": {"stage": "Lost"}}})
    either = await query(
        client, "deals", {"filter": {"$or": [{"stage": "Lost"}, {"stage": "Lead"}]}}
    )
    no_company = await query(
        client, "deals", {"filter": {"associated_company": {"$not_empty": False}}}
    )

    assert lost
    assert sorted(record_ids(by_stage)) == sorted(lost)
    assert person.record_id in record_ids(by_name)
    assert record_ids(by_email) == [person.record_id]
    assert record_ids(verbose) == record_ids(by_name)
    assert len(not_lost) == len(deals) - len(lost)
    assert len(either) > len(lost)
    assert len(no_company) == 5


async def test_sorts_and_tie_break_by_record_id() -> None:
    store = AttioStore()
    same_time = parse_timestamp("2026-02-01T10:00:00.000000000Z")
    ids = [
        store.add_record("companies", {"name": f"Tied {n}"}, created_at=same_time)
        for n in range(4)
    ]
    earliest = store.add_record(
        "companies", {"name": "Early"}, created_at=same_time - 5
    )
    asc = [{"attribute": "created_at", "direction": "asc"}]
    desc = [{"attribute": "created_at", "direction": "desc"}]

    async with make_client(store) as http:
        ascending = record_ids(await query(http, "companies", {"sorts": asc}))
        descending = record_ids(await query(http, "companies", {"sorts": desc}))
        by_name = await query(
            http,
            "companies",
            {"sorts": [{"attribute": "name", "direction": "desc"}]},
        )
        paged = [
            *record_ids(await query(http, "companies", {"sorts": asc, "limit": 2})),
            *record_ids(
                await query(http, "companies", {"sorts": asc, "limit": 3, "offset": 2})
            ),
        ]

    assert ascending == [earliest, *sorted(ids)]
    assert descending == [*sorted(ids), earliest]
    assert [r["values"]["name"][0]["value"] for r in by_name][:2] == [
        "Tied 3",
        "Tied 2",
    ]
    assert paged == ascending


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"limit": -1},
        {"limit": "5"},
        {"limit": 2.5},
        {"offset": True},
        {"page": 2},
        {"filter": "stage=Lost"},
        {"filter": {"no_such_attribute": 1}},
        {"filter": {"created_at": {"$gt": "2026-01-01"}}},
        {"filter": {"created_at": {"$after": "2026-01-01T00:00:00Z"}}},
        {"filter": {"$nor": []}},
        {"filter": {"name": {"$gt": "A"}}},
        {"sorts": {"attribute": "created_at"}},
        {"sorts": [{"attribute": "nope", "direction": "asc"}]},
        {"sorts": [{"attribute": "created_at", "direction": "up"}]},
    ],
)
async def test_bad_bodies_are_filter_errors(
    client: httpx.AsyncClient, body: Any
) -> None:
    response = await client.post(QUERY_PATH.format(object="deals"), json=body)

    assert response.status_code == 400
    spec_validator(QUERY_PATH, "post", "400").validate(response.json())


async def test_invalid_json_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        QUERY_PATH.format(object="deals"),
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "filter_error"


# Auth


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    "header",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", basic(TOKEN)],
)
async def test_accepted_auth_headers(demo_store: AttioStore, header: str) -> None:
    async with make_client(demo_store, headers={"Authorization": header}) as http:
        response = await http.post(QUERY_PATH.format(object="deals"), json={})

    assert response.status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer wrong-token",
        "Bearer ",
        TOKEN,
        basic(TOKEN, "secret"),
        basic("wrong-token"),
        "Basic not-base64!",
    ],
)
async def test_bad_token_is_401(demo_store: AttioStore, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with make_client(demo_store, headers=headers) as http:
        listing = await http.post(QUERY_PATH.format(object="deals"), json={})
        unknown_object = await http.post(QUERY_PATH.format(object="tickets"), json={})

    assert listing.status_code == 401
    assert unknown_object.status_code == 401
    jsonschema.validate(listing.json(), ERROR_ENVELOPE)
    assert listing.json()["status_code"] == 401
    assert listing.json()["type"] == "auth_error"


# Faults (F05: Retry-After as an HTTP date)


def test_rate_limit_sends_http_date(demo_store: AttioStore) -> None:
    plan = FaultPlan(script=("429", "429"), path_contains="/companies/")
    app = create_app(demo_store, api_token=TOKEN, faults=plan)

    with (
        serve_in_thread(app) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http,
    ):
        responses = []
        for _ in range(3):
            sent_at = time.time()
            responses.append(
                (
                    sent_at,
                    http.post(QUERY_PATH.format(object="companies"), json={"limit": 3}),
                )
            )

    for sent_at, throttled in responses[:2]:
        assert throttled.status_code == 429
        assert throttled.json() == RATE_LIMIT_BODY
        retry_after = throttled.headers["retry-after"]
        assert re.fullmatch(
            r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT",
            retry_after,
        ), retry_after
        wait = parsedate_to_datetime(retry_after).timestamp() - sent_at
        assert 0 < wait <= 1.5
    _, ok = responses[2]
    assert ok.status_code == 200
    assert len(ok.json()["data"]) == 3


async def test_rate_limit_in_seconds(demo_store: AttioStore) -> None:
    async with make_client(
        demo_store, faults=FaultPlan(script=("429-seconds",))
    ) as http:
        response = await http.post(QUERY_PATH.format(object="deals"), json={})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert response.json() == RATE_LIMIT_BODY


async def test_fault_kinds_answer_their_shapes(demo_store: AttioStore) -> None:
    plan = FaultPlan(script=("500", "502", "503", "401", "truncated", "ok"))

    async with make_client(demo_store, faults=plan) as http:
        responses = [
            await http.post(QUERY_PATH.format(object="deals"), json={"limit": 2})
            for _ in range(6)
        ]

    server_error, bad_gateway, unavailable, unauthorized, cut, healthy = responses
    assert server_error.status_code == 500
    jsonschema.validate(server_error.json(), ERROR_ENVELOPE)
    assert bad_gateway.status_code == 502
    assert bad_gateway.headers["content-type"].startswith("text/html")
    assert unavailable.status_code == 503
    assert unavailable.headers["content-type"].startswith("text/html")
    assert unauthorized.status_code == 401
    assert unauthorized.json()["type"] == "auth_error"
    assert cut.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert healthy.status_code == 200
    assert len(healthy.json()["data"]) == 2


async def test_malformed_fault_breaks_schema(demo_store: AttioStore) -> None:
    deal = demo_store.records("deals")[0].record_id
    plan = FaultPlan(script=("malformed", "malformed", "malformed"))
    validator = spec_validator(QUERY_PATH, "post", "200")

    async with make_client(demo_store, faults=plan) as http:
        listing = await http.post(QUERY_PATH.format(object="deals"), json={"limit": 2})
        empty = await http.post(
            QUERY_PATH.format(object="deals"), json={"offset": 1000}
        )
        single = await http.get(RECORD_PATH.format(object="deals", record_id=deal))

    assert listing.status_code == 200
    assert all("values" not in r for r in listing.json()["data"])
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(listing.json())
    assert empty.status_code == 200
    assert not isinstance(empty.json()["data"], list)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(empty.json())
    assert "values" not in single.json()["data"]


async def test_timeout_fault_hangs(demo_store: AttioStore) -> None:
    plan = FaultPlan(script=("timeout",), hang_seconds=0.3)

    async with make_client(demo_store, faults=plan) as http:
        started = time.monotonic()
        response = await http.post(QUERY_PATH.format(object="deals"), json={})
        elapsed = time.monotonic() - started

    assert elapsed >= 0.3
    assert response.status_code == 200


async def test_fault_plan_set_at_runtime(client: httpx.AsyncClient) -> None:
    set_plan = await client.post(
        "/__fake__/faults", json={"script": ["429"]}, headers=NO_TOKEN
    )
    throttled = await client.post(QUERY_PATH.format(object="deals"), json={})
    healthy = await client.post(QUERY_PATH.format(object="deals"), json={})
    stats = (await client.get("/__fake__/stats", headers=NO_TOKEN)).json()
    unknown = await client.post("/__fake__/faults", json={"kinds": ["418"]})

    assert set_plan.status_code == 200
    assert throttled.status_code == 429
    assert healthy.status_code == 200
    assert stats["faults"] == {"429": 1}
    assert stats["paths"]["/v2/objects/deals/records/query"] == {"429": 1, "200": 1}
    assert unknown.status_code == 422
    assert set(FAULT_KINDS) >= {"429", "429-seconds", "malformed", "timeout"}


# History, deletes, merges, relationships


async def test_update_keeps_history(demo_store: AttioStore) -> None:
    deal = demo_store.records("deals")[0].record_id
    demo_store.update_record("deals", deal, {"value": 1234.5})
    demo_store.update_record("deals", deal, {"value": 2000})
    path = RECORD_PATH.format(object="deals", record_id=deal)

    async with make_client(demo_store) as http:
        current = (await http.get(path)).json()["data"]["values"]["value"]
        demo_store.include_historic = True
        with_history = (await http.get(path)).json()["data"]["values"]["value"]

    assert len(current) == 1
    assert current[0]["currency_value"] == 2000
    assert current[0]["active_until"] is None
    assert len(with_history) >= 3
    assert [e["currency_value"] for e in active(with_history)] == [2000]
    closed = [e for e in with_history if e["active_until"] is not None]
    assert 1234.5 in [e["currency_value"] for e in closed]
    assert all(e["active_until"] >= e["active_from"] for e in closed)


def test_unchanged_value_adds_no_history(demo_store: AttioStore) -> None:
    deal = demo_store.records("deals")[0]
    before = len(deal.values["name"])

    demo_store.update_record(
        "deals", deal.record_id, {"name": deal.values["name"][-1]["value"]}
    )

    assert len(deal.values["name"]) == before


def test_bad_value_changes_nothing(demo_store: AttioStore) -> None:
    deal = demo_store.records("deals")[0]
    snapshot = copy.deepcopy(deal.values)

    with pytest.raises(ValueError, match="unknown status"):
        demo_store.update_record(
            "deals", deal.record_id, {"value": 5, "stage": "Closed"}
        )
    with pytest.raises(ValueError, match="no attributes"):
        demo_store.update_record("deals", deal.record_id, {"amount": 5})
    with pytest.raises(ValueError, match="read-only"):
        demo_store.update_record("deals", deal.record_id, {"created_at": 5})

    assert deal.values == snapshot


async def test_delete_is_permanent(demo_store: AttioStore) -> None:
    deal = next(
        d
        for d in demo_store.records("deals")
        if demo_store.active_value("deals", d.record_id, "associated_company")
    )
    company = demo_store.active_value("deals", deal.record_id, "associated_company")

    demo_store.delete_record("deals", deal.record_id)

    async with make_client(demo_store) as http:
        deleted = await http.get(
            RECORD_PATH.format(object="deals", record_id=deal.record_id)
        )
        listing = record_ids(await query(http, "deals"))
    assert deleted.status_code == 404
    assert deal.record_id not in listing
    assert deal.record_id not in demo_store.active_value(
        "companies", company, "associated_deals"
    )
    with pytest.raises(KeyError):
        demo_store.delete_record("deals", deal.record_id)


def test_relationships_stay_in_step(demo_store: AttioStore) -> None:
    first, second = demo_store.records("companies")[:2]
    deal = demo_store.add_record(
        "deals",
        {"name": "Pilot", "stage": "Lead", "associated_company": first.record_id},
    )

    linked_first = demo_store.active_value(
        "companies", first.record_id, "associated_deals"
    )
    demo_store.update_record("deals", deal, {"associated_company": second.record_id})

    assert deal in linked_first
    assert deal not in demo_store.active_value(
        "companies", first.record_id, "associated_deals"
    )
    assert deal in demo_store.active_value(
        "companies", second.record_id, "associated_deals"
    )


def test_merge_moves_values_and_deletes_duplicate() -> None:
    store = AttioStore()
    survivor = store.add_record(
        "companies", {"name": "Acme", "domains": ["acme.example"]}
    )
    duplicate = store.add_record(
        "companies",
        {"domains": ["acme.example", "acme-corp.example"], "description": "Anvils"},
    )
    deal = store.add_record(
        "deals", {"name": "Anvils", "associated_company": duplicate}
    )

    store.merge_records("companies", survivor, duplicate)

    assert store.get_record("companies", duplicate) is None
    assert store.active_value("companies", survivor, "domains") == [
        "acme.example",
        "acme-corp.example",
    ]
    assert store.active_value("companies", survivor, "description") == "Anvils"
    assert store.active_value("companies", survivor, "name") == "Acme"
    assert store.active_value("deals", deal, "associated_company") == survivor


# Churn


async def test_churn_changes_records(demo_store: AttioStore) -> None:
    before = {
        r.record_id: (
            demo_store.active_value("deals", r.record_id, "stage"),
            demo_store.active_value("deals", r.record_id, "value"),
        )
        for r in demo_store.records("deals")
    }

    async with make_client(demo_store) as http:
        started = await http.post("/__fake__/churn", json={"every": 1, "seed": 3})
        for _ in range(12):
            await query(http, "deals", {"limit": 5})
        changes = (await http.get("/__fake__/churn")).json()["changes"]
        after = await query(http, "deals")

    assert started.status_code == 200
    assert len(changes) == 12
    after_state = {
        r["id"]["record_id"]: (
            active(r["values"]["stage"])[0]["status"]["title"],
            active(r["values"]["value"])[0]["currency_value"],
        )
        for r in after
    }
    changed = {rid for rid, state in before.items() if after_state.get(rid) != state}
    created = set(after_state) - set(before)
    assert changed or created
    assert all(title in DEAL_STAGES for title, _ in after_state.values())


def test_mutate_repeats_per_seed() -> None:
    runs = []
    for _ in range(2):
        store = AttioStore(clock=lambda: 1_800_000_000 * 10**9)
        datasets.generate_demo(store, seed=1)
        rng = random.Random(5)
        runs.append([store.mutate(rng) for _ in range(20)])

    assert runs[0] == runs[1]
    assert any(change.startswith("created deal") for change in runs[0])
    assert any(change.startswith("moved deal") for change in runs[0])
    assert any(change.startswith("set value") for change in runs[0])


# Maven CRM loader on the real files


def test_maven_loader_counts(maven_store: AttioStore) -> None:
    counts = maven_store.counts()
    deals = maven_store.records("deals")
    without_company = [d for d in deals if not active(d.values["associated_company"])]

    assert counts == {
        "companies": 85,
        "people": 35,
        "deals": 8_800,
        "workspace_members": 35,
    }
    assert len(without_company) == 1_425
    assert all(" – " in d.values["name"][0]["value"] for d in without_company)


def test_maven_stages_values_and_history(maven_store: AttioStore) -> None:
    deals = maven_store.records("deals")
    stages = Counter(active(d.values["stage"])[0]["status"]["title"] for d in deals)
    with_value = [d for d in deals if active(d.values["value"])]
    closed_history = [
        d for d in deals if any(e["active_until"] for e in d.values["stage"])
    ]

    assert stages == {"Won 🎉": 4_238, "Lost": 2_473, "In Progress": 1_589, "Lead": 500}
    assert len(with_value) == 4_238 + 2_473
    assert {e["currency_code"] for d in with_value for e in d.values["value"]} == {
        "USD"
    }
    assert len(closed_history) == 4_238 + 2_473
    assert len({d.created_ns for d in deals}) == len(deals)


def test_maven_ids_are_deterministic(maven_store: AttioStore) -> None:
    again = AttioStore()
    datasets.load_maven_crm(again, MAVEN_DIR, limit=20)
    deal_id = datasets.maven_record_id("deal", "1C1I7A6R")
    company_id = datasets.maven_record_id("company", "Cancity")

    deal = maven_store.get_record("deals", deal_id)
    assert deal is not None
    assert again.get_record("deals", deal_id) is not None
    assert (
        maven_store.active_value("deals", deal_id, "associated_company") == company_id
    )
    assert (
        maven_store.active_value("deals", deal_id, "name") == "Cancity – GTX Plus Basic"
    )
    assert format_timestamp(deal.created_ns).startswith("2016-10-20T09:00:00")
    assert [r.record_id for r in again.records("companies")] == [
        r.record_id for r in maven_store.records("companies")
    ]


def test_maven_deal_links(maven_store: AttioStore) -> None:
    deal_id = datasets.maven_record_id("deal", "1C1I7A6R")
    person_id = datasets.maven_record_id("person", "Moses Frase")
    member_id = datasets.maven_record_id("member", "Moses Frase")

    owner = maven_store.active_value("deals", deal_id, "owner")

    assert owner == {
        "referenced_actor_type": "workspace-member",
        "referenced_actor_id": member_id,
    }
    assert maven_store.active_value("deals", deal_id, "associated_people") == [
        person_id
    ]
    assert deal_id in maven_store.active_value("people", person_id, "associated_deals")
    assert maven_store.get_member(member_id) is not None
    assert "GTX Pro" in {
        maven_store.active_value("deals", d.record_id, "name").split(" – ")[-1]
        for d in maven_store.records("deals")[:200]
    }


def test_maven_companies(maven_store: AttioStore) -> None:
    acme = datasets.maven_record_id("company", "Acme Corporation")

    assert maven_store.active_value("companies", acme, "domains") == [
        "acmecorporation.com"
    ]
    assert maven_store.active_value("companies", acme, "categories") == ["Technology"]
    description = maven_store.active_value("companies", acme, "description")
    assert "1996" in description
    assert "2,822 employees" in description


def test_maven_loader_limit() -> None:
    store = AttioStore()

    counts = datasets.load_maven_crm(store, MAVEN_DIR, limit=50)

    assert counts["deals"] == 50
    assert counts["companies"] == 85
    assert store.counts()["deals"] == 50


def test_loader_rejects_wrong_layout(tmp_path: Path) -> None:
    for name in (
        datasets.ACCOUNTS_FILE,
        datasets.TEAMS_FILE,
        datasets.PIPELINE_FILE,
        datasets.PRODUCTS_FILE,
    ):
        (tmp_path / name).write_text("a,b\n1,2\n", encoding="utf-8")

    with pytest.raises(ValueError, match="missing CSV columns"):
        datasets.load_maven_crm(AttioStore(), tmp_path)


# Demo data set


def test_demo_contents(demo_store: AttioStore) -> None:
    people_names = [
        demo_store.active_value("people", r.record_id, "name")["first_name"]
        for r in demo_store.records("people")
    ]
    stages = {
        demo_store.active_value("deals", r.record_id, "stage")
        for r in demo_store.records("deals")
    }

    assert demo_store.counts() == {
        "companies": 12,
        "people": 30,
        "deals": 40,
        "workspace_members": 4,
    }
    assert any(CYRILLIC.search(name) for name in people_names)
    assert any(not CYRILLIC.search(name) for name in people_names)
    assert stages == set(DEAL_STAGES)


def test_demo_is_deterministic() -> None:
    first, second, other = AttioStore(), AttioStore(), AttioStore()
    datasets.generate_demo(first, seed=7)
    datasets.generate_demo(second, seed=7)
    datasets.generate_demo(other, seed=8)

    def snapshot(store: AttioStore) -> list[Any]:
        return [store.record_json(r) for r in store.records("deals")]

    assert snapshot(first) == snapshot(second)
    assert snapshot(first) != snapshot(other)


# Command line


def test_cli_demo_defaults() -> None:
    args = parse_args(["--token", "t"])

    store = build_store(args)

    assert args.port == 3003
    assert args.host == "127.0.0.1"
    assert store.counts()["deals"] == 40
    assert store.include_historic is False


def test_cli_loads_maven(tmp_path: Path) -> None:
    args = parse_args(
        ["--token", "t", "--data", "maven-crm", "--data-dir", str(REAL_DATA)]
        + ["--limit", "25", "--show-historic"]
    )

    store = build_store(args)

    assert store.counts()["deals"] == 25
    assert store.include_historic is True
    with pytest.raises(SystemExit, match="not found"):
        build_store(
            parse_args(
                ["--token", "t", "--data", "maven-crm", "--data-dir", str(tmp_path)]
            )
        )
