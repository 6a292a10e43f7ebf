"""Security of the gateway and the services, over real HTTP and gRPC.

One stack serves the whole module (see conftest.py). The routes are read from
the gateway's OpenAPI schema, built by gateway.app.create_app, so a route added
later is probed without a change here. FastAPI 0.165 keeps included routers
unexpanded in `app.routes`, which is why the schema and not that list is read.
"""

import itertools
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import httpx
import jwt
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.app import SECURITY_HEADERS, create_app
from gateway.settings import GatewaySettings
from gen.auth.v1 import auth_pb2
from gen.connectors.v1 import connectors_pb2
from gen.metrics.v1 import metrics_pb2
from gen.rag.v1 import rag_pb2
from gen.reconcile.v1 import reconcile_pb2
from gen.scheduler.v1 import scheduler_pb2
from services.auth.sessions import hash_session_token
from services.common.internal_auth import AUDIENCE, issue_token, service_principal
from tests.e2e.stacks import query
from tests.security.conftest import (
    RECORDED_RESPONSES,
    UI_ORIGIN,
    ProjectBData,
    SecurityWorld,
    expect,
    log_in,
    open_client,
)

pytestmark = pytest.mark.e2e

MUTATING_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SESSION_COOKIE = "opsdesk_session"
CSRF_COOKIE = "opsdesk_csrf"
PLACEHOLDER_ID = "00000000-0000-4000-8000-000000000000"
MAX_BODY_BYTES = GatewaySettings().max_request_body_bytes


def _gateway_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """Return (method, path template, operation) for every route, reads first."""
    schema = create_app(GatewaySettings()).openapi()
    operations = [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    return sorted(operations, key=lambda op: (op[0] != "GET", op[1], op[0]))


SCHEMA = create_app(GatewaySettings()).openapi()
OPERATIONS = _gateway_operations()
# Routes that act on the caller's own session and take no project or record id.
SESSION_ROUTES = {
    "/auth/login": "opens a new session; it has no session or project yet",
    "/auth/logout": "ends the caller's own session; probing it would log out",
}
# State-changing routes that are no action inside the active project.
VIEWER_EXCEPTIONS = {
    **SESSION_ROUTES,
    "/projects/{project_id}/select": "chooses among the caller's own memberships",
    "/projects": "creates a new project owned by the caller",
}


def _unversioned(path: str) -> str:
    return path.removeprefix("/v1")


def _path_parameters(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


def _fill(path: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)}", lambda match: values[match.group(1)], path)


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow a $ref and pick the object branch of an optional body."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _resolve(SCHEMA["components"]["schemas"][name])
    for branch in schema.get("anyOf", []):
        if branch.get("type") != "null":
            return _resolve(branch)
    return schema


def _sample(schema: dict[str, Any]) -> Any:
    """Return a small valid value for a JSON schema of a scalar or a list."""
    schema = _resolve(schema)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    samples: dict[str, Any] = {
        "string": "deal",
        "integer": max(1, schema.get("minimum", 1)),
        "number": 1.0,
        "boolean": False,
        "array": [],
        "object": {},
    }
    return samples.get(str(kind), "deal")


def _request_body(
    operation: dict[str, Any], ids: dict[str, str]
) -> dict[str, Any] | None:
    """Build a JSON body with the required fields and every `*_id` field set.

    `ids` maps field names to the id to send; other `*_id` fields get the
    first value of `ids`.
    """
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    model = _resolve(content["application/json"]["schema"])
    required = set(model.get("required", []))
    body: dict[str, Any] = {}
    for name, field_schema in model.get("properties", {}).items():
        if name.endswith("_id"):
            body[name] = ids.get(name, next(iter(ids.values())))
        elif name in required:
            body[name] = _sample(field_schema)
    return body


def _b_values(parameter: str, b_data: ProjectBData) -> list[str]:
    """Return the ids of project B to try in one path parameter."""
    known = {
        "project_id": [b_data.project_id],
        "run_id": b_data.run_ids,
        "error_id": [str(i) for i in b_data.error_ids],
        "external_id": b_data.external_ids,
        "query_run_id": b_data.query_run_ids,
        "chunk_id": b_data.chunk_ids,
        "event_id": [str(i) for i in b_data.audit_event_ids],
        "name": ["attio"],
        "connector": ["attio"],
        "job_type": ["sync_attio"],
    }
    if parameter in known:
        return known[parameter]
    return [*b_data.text_ids(), *(str(i) for i in b_data.number_ids())]


def _numbers_under_id_keys(body: Any) -> set[int]:
    found: set[int] = set()
    if isinstance(body, dict):
        for key, value in body.items():
            if key == "id" or key.endswith("_id"):
                if isinstance(value, int):
                    found.add(value)
                elif isinstance(value, str) and value.isdigit():
                    found.add(int(value))
            found |= _numbers_under_id_keys(value)
    elif isinstance(body, list):
        for item in body:
            found |= _numbers_under_id_keys(item)
    return found


def _without_own_actions(body: Any, own_actors: set[str]) -> Any:
    """Replace the audit events of the caller's own requests by their project.

    The audit trail stores each request's path parameters as its target, so
    a probe of A records B's ids in A's own log. Such an event is A's own
    action and no leak, but its project must still be A's.
    """
    if isinstance(body, dict):
        actor = body.get("actor_id")
        if isinstance(actor, str) and actor in own_actors:
            return {"project_id": body.get("project_id")}
        return {k: _without_own_actions(v, own_actors) for k, v in body.items()}
    if isinstance(body, list):
        return [_without_own_actions(item, own_actors) for item in body]
    return body


def _b_ids_in(
    response: httpx.Response, b_data: ProjectBData, own_actors: set[str]
) -> set[str]:
    try:
        body = _without_own_actions(response.json(), own_actors)
        text = json.dumps(body)
    except ValueError:
        body = None
        text = response.text
    text_ids = {i for i in b_data.text_ids() if i in text}
    numbers = _numbers_under_id_keys(body) & set(b_data.planted_numbers)
    return text_ids | {str(n) for n in numbers}


def _b_state(world: SecurityWorld) -> dict[str, Any]:
    """Return what a write to project B would change, read from the database."""
    project = uuid.UUID(world.project_b)
    outsiders = [world.users[k].user_id for k in ("member_a", "admin_a")]
    return {
        "errors": [
            tuple(row)
            for row in query(
                world.stack,
                "SELECT id, status, attempts, next_retry_at, resolved_at"
                " FROM connectors.connector_errors WHERE project_id = $1 ORDER BY id",
                project,
            )
        ],
        "runs": query(
            world.stack,
            "SELECT count(*) FROM connectors.sync_runs WHERE project_id = $1",
            project,
        )[0][0],
        "query_runs": query(
            world.stack,
            "SELECT count(*) FROM rag.lightrag_query_runs WHERE project_id = $1",
            project,
        )[0][0],
        "events_by_a_users": query(
            world.stack,
            "SELECT count(*) FROM auth.audit_events"
            " WHERE project_id = $1 AND actor_id = ANY($2::text[])",
            project,
            outsiders,
        )[0][0],
    }


@pytest.mark.parametrize("user", ["member_a", "admin_a"])
def test_project_a_user_cannot_reach_project_b(world: SecurityWorld, user: str) -> None:
    """Call every route with B's ids in its path and body from a session of A."""
    client = world.clients[user]
    b_data = world.b_data
    assert b_data.run_ids
    assert b_data.error_ids
    assert b_data.query_run_ids
    assert b_data.audit_event_ids
    before = _b_state(world)
    body_ids = {
        "project_id": b_data.project_id,
        "run_id": b_data.run_ids[0],
        "query_run_id": b_data.query_run_ids[0],
        "error_id": str(b_data.error_ids[0]),
        "external_id": b_data.external_ids[0],
    }
    if b_data.chunk_ids:
        body_ids["chunk_id"] = b_data.chunk_ids[0]
    own_actors = {world.users[key].user_id for key in ("member_a", "admin_a")}
    failures: list[str] = []
    calls = 0
    for method, path, operation in OPERATIONS:
        if _unversioned(path) in SESSION_ROUTES:
            continue
        parameters = _path_parameters(path)
        choices = [_b_values(name, b_data) for name in parameters]
        for combination in itertools.product(*choices):
            url = _fill(path, dict(zip(parameters, combination, strict=True)))
            response = client.request(
                method, url, json=_request_body(operation, body_ids)
            )
            calls += 1
            sent = set(combination) | set(body_ids.values())
            leaked = _b_ids_in(response, b_data, own_actors)
            if response.is_success and leaked:
                failures.append(f"{method} {url} -> {response.status_code} {leaked}")
            elif response.status_code in (401,) or response.status_code >= 500:
                failures.append(f"{method} {url} -> {response.status_code}")
            elif leaked - sent:
                failures.append(f"{method} {url} -> {response.status_code} {leaked}")

    assert calls > len(OPERATIONS) // 2
    assert failures == []
    assert _b_state(world) == before


def test_member_cannot_select_project_b(world: SecurityWorld) -> None:
    client = world.clients["member_a"]

    selected = client.post(f"/projects/{world.project_b}/select")
    me = expect(client.get("/auth/me"), 200)
    projects = expect(client.get("/projects"), 200)["projects"]

    assert selected.status_code == 404
    assert selected.json()["error"]["code"] == "project_not_found"
    assert me["active_project_id"] == world.project_a
    assert world.project_b not in {project["id"] for project in projects}


def _login_tokens(world: SecurityWorld, user: str) -> tuple[str, str]:
    """Open a fresh session for user; return its session and CSRF tokens."""
    account = world.users[user]
    client = log_in(world.stack, account.username, account.password)
    session = client.cookies[SESSION_COOKIE]
    csrf = client.cookies[CSRF_COOKIE]
    client.close()
    return session, csrf


def _post_with(
    world: SecurityWorld, path: str, session: str, cookie_csrf: str, header_csrf: str
) -> httpx.Response:
    """POST with exactly the given cookies and CSRF header, and no cookie jar."""
    cookies = f"{SESSION_COOKIE}={session}"
    if cookie_csrf:
        cookies += f"; {CSRF_COOKIE}={cookie_csrf}"
    headers = {"cookie": cookies}
    if header_csrf:
        headers["x-csrf-token"] = header_csrf
    with open_client(world.stack) as client:
        return client.post(path, headers=headers)


CsrfCase = Callable[[str, str, str], tuple[str, str]]
CSRF_CASES: dict[str, CsrfCase] = {
    # name: (cookie token, header token) as functions of (own, other session's)
    "forged pair": lambda own, other, forged: (forged, forged),
    "forged header": lambda own, other, forged: (own, forged),
    "empty header": lambda own, other, forged: (own, ""),
    "empty header and cookie": lambda own, other, forged: ("", ""),
    "swapped with other session": lambda own, other, forged: (other, other),
    "cross-session header": lambda own, other, forged: (own, other),
    "cross-session cookie": lambda own, other, forged: (other, own),
}


@pytest.mark.parametrize("case", list(CSRF_CASES))
def test_bad_csrf_pair_is_rejected(world: SecurityWorld, case: str) -> None:
    session, own = _login_tokens(world, "member_a")
    _, other = _login_tokens(world, "member_a")
    cookie_csrf, header_csrf = CSRF_CASES[case](own, other, secrets.token_hex(32))
    path = f"/projects/{world.project_a}/select"

    rejected = _post_with(world, path, session, cookie_csrf, header_csrf)
    valid = _post_with(world, path, session, own, own)

    assert rejected.status_code == 403
    assert rejected.json()["error"]["code"] == "csrf_invalid"
    assert valid.status_code == 200


def test_client_recovers_csrf_from_auth_me(world: SecurityWorld) -> None:
    session, own = _login_tokens(world, "member_a")
    path = f"/projects/{world.project_a}/select"
    rejected = _post_with(world, path, session, "stale", "stale")
    with open_client(world.stack) as client:
        me = client.get("/auth/me", headers={"cookie": f"{SESSION_COOKIE}={session}"})
    fresh = me.json()["csrf_token"]

    retried = _post_with(world, path, session, fresh, fresh)

    assert rejected.status_code == 403
    assert me.status_code == 200
    assert fresh == own
    assert retried.status_code == 200


def test_planted_session_id_is_replaced_at_login(world: SecurityWorld) -> None:
    planted = secrets.token_urlsafe(32)
    account = world.users["member_a"]
    with open_client(world.stack) as client:
        login = client.post(
            "/auth/login",
            json={"username": account.username, "password": account.password},
            headers={"cookie": f"{SESSION_COOKIE}={planted}"},
        )
        with_planted = client.get(
            "/auth/me", headers={"cookie": f"{SESSION_COOKIE}={planted}"}
        )
    issued = login.cookies.get(SESSION_COOKIE)

    assert login.status_code == 200
    assert issued
    assert issued != planted
    assert with_planted.status_code == 401


def test_logged_out_session_gets_401(world: SecurityWorld) -> None:
    account = world.users["member_a"]
    client = log_in(world.stack, account.username, account.password)
    session = client.cookies[SESSION_COOKIE]

    logout = client.post("/auth/logout")
    with open_client(world.stack) as fresh:
        after = fresh.get("/auth/me", headers={"cookie": f"{SESSION_COOKIE}={session}"})
    client.close()

    assert logout.status_code == 200
    assert after.status_code == 401


@pytest.mark.parametrize("column", ["idle_expires_at", "absolute_expires_at"])
def test_expired_session_gets_401(world: SecurityWorld, column: str) -> None:
    session, _ = _login_tokens(world, "member_a")
    cookie = {"cookie": f"{SESSION_COOKIE}={session}"}
    with open_client(world.stack) as client:
        live = client.get("/auth/me", headers=cookie)
        query(
            world.stack,
            f"UPDATE auth.sessions SET {column} = now() - interval '1 second'"
            " WHERE id_hash = $1",
            hash_session_token(session),
        )
        expired = client.get("/auth/me", headers=cookie)

    assert live.status_code == 200
    assert expired.status_code == 401


VIEWER_TARGETS = [
    (method, path, operation)
    for method, path, operation in OPERATIONS
    if method in MUTATING_METHODS and _unversioned(path) not in VIEWER_EXCEPTIONS
]


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    VIEWER_TARGETS,
    ids=[f"{method} {path}" for method, path, _ in VIEWER_TARGETS],
)
def test_viewer_gets_403_on_state_change(
    world: SecurityWorld, method: str, path: str, operation: dict[str, Any]
) -> None:
    values = {
        "project_id": world.project_a,
        "name": "attio",
        "connector": "attio",
        "job_type": "sync_attio",
        "error_id": "1",
    }
    filled = {p: values.get(p, PLACEHOLDER_ID) for p in _path_parameters(path)}
    body = _request_body(
        operation, {"project_id": world.project_a, "any": PLACEHOLDER_ID}
    )

    response = world.clients["viewer_a"].request(method, _fill(path, filled), json=body)

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] != "csrf_invalid"


GRPC_SERVICES: dict[str, list[ServiceDescriptor]] = {
    service: [
        module.DESCRIPTOR.services_by_name[name]
        for module, name in [
            *own,
            (scheduler_pb2, "SchedulerService"),
            (metrics_pb2, "MetricsService"),
        ]
    ]
    for service, own in {
        "auth": [(auth_pb2, "AuthService")],
        "connectors": [(connectors_pb2, "ConnectorsService")],
        "rag": [(rag_pb2, "RagService")],
        "reconcile": [(reconcile_pb2, "ReconcileService")],
    }.items()
}


def _bad_token(kind: str, secret: str) -> str | None:
    principal = service_principal("security-suite")
    if kind == "missing":
        return None
    if kind == "expired":
        return issue_token(principal, secret, ttl_seconds=-120)
    if kind == "other secret":
        return issue_token(principal, secrets.token_urlsafe(32))
    claims = {
        "sub": principal.subject,
        "kind": "service",
        "role": "service",
        "aud": AUDIENCE,
        "exp": int(time.time()) + 60,
    }
    return jwt.encode(claims, None, algorithm=None)


async def _call(
    channel: grpc.aio.Channel, method: MethodDescriptor, token: str | None
) -> grpc.StatusCode:
    """Call method with an empty request and return the status it ends with."""
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    try:
        if method.server_streaming:
            stream = channel.unary_stream(
                path,
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
            async for _ in stream(request_class(), metadata=metadata, timeout=10):
                pass
        else:
            unary = channel.unary_unary(
                path,
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
            await unary(request_class(), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    "token_kind", ["missing", "expired", "other secret", "alg none"]
)
@pytest.mark.parametrize("service", list(GRPC_SERVICES))
async def test_grpc_call_without_valid_token_is_unauthenticated(
    world: SecurityWorld, service: str, token_kind: str
) -> None:
    port = world.stack.config.ports_of(service)[0]
    token = _bad_token(token_kind, world.stack.config.internal_token_secret)
    methods = [m for s in GRPC_SERVICES[service] for m in s.methods]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        outcomes = {m.full_name: await _call(channel, m, token) for m in methods}

    assert len(methods) >= 7
    assert {
        name: code
        for name, code in outcomes.items()
        if code != grpc.StatusCode.UNAUTHENTICATED
    } == {}


@pytest.mark.parametrize("service", list(GRPC_SERVICES))
async def test_grpc_health_is_public_and_valid_token_passes(
    world: SecurityWorld, service: str
) -> None:
    port = world.stack.config.ports_of(service)[0]
    token = issue_token(
        service_principal("security-suite"), world.stack.config.internal_token_secret
    )
    export = metrics_pb2.DESCRIPTOR.services_by_name["MetricsService"].methods_by_name[
        "Export"
    ]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        with_token = await _call(channel, export, token)

    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert with_token == grpc.StatusCode.OK


@pytest.mark.parametrize(
    "value",
    ["https://ui.example.test", "https://ui.example.test,https://admin.example.test"],
)
def test_cors_origin_accepts_plain_list(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """CORS_ORIGIN is documented as comma-separated exact origins."""
    monkeypatch.setenv("CORS_ORIGIN", value)

    settings = GatewaySettings()

    assert settings.cors_origins == value.split(",")


def _preflight(client: httpx.Client, path: str, origin: str) -> httpx.Response:
    return client.options(
        path,
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-csrf-token, content-type",
            "cookie": f"{SESSION_COOKIE}=s1",
        },
    )


@pytest.mark.parametrize("path", ["/lightrag/query", "/v1/search", "/auth/login"])
def test_cors_preflight_allows_only_listed_origin(
    world: SecurityWorld, path: str
) -> None:
    """F14: a wildcard with credentials must not reflect an unlisted origin.

    Starlette's CORSMiddleware echoes any Origin with credentials allowed
    when its allow-list is `*`; the gateway must list exact origins.
    """
    with open_client(world.stack) as client:
        evil = _preflight(client, path, "https://evil.example")
        listed = _preflight(client, path, UI_ORIGIN)
        simple = client.get(
            "/auth/me",
            headers={
                "origin": "https://evil.example",
                "cookie": f"{SESSION_COOKIE}=s1",
            },
        )

    assert "access-control-allow-origin" not in evil.headers
    assert "access-control-allow-credentials" not in evil.headers
    assert evil.status_code == 400
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == UI_ORIGIN
    assert listed.headers["access-control-allow-credentials"] == "true"
    assert "x-csrf-token" in listed.headers["access-control-allow-headers"].lower()
    assert "origin" in listed.headers.get("vary", "").lower()
    assert "access-control-allow-origin" not in simple.headers


@pytest.mark.parametrize("with_cookie", [False, True], ids=["anonymous", "cookie"])
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", ["/kag", "/kag/anything", "/v1/kag/query/deep"])
def test_kag_paths_give_410(
    world: SecurityWorld, path: str, method: str, with_cookie: bool
) -> None:
    client = world.clients["member_a"] if with_cookie else open_client(world.stack)

    response = client.request(method, path, json={"question": "deal"})

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "kag_disabled"


def test_declared_oversized_body_gets_413(world: SecurityWorld) -> None:
    with open_client(world.stack) as client:
        response = client.post(
            "/auth/login",
            content=b"x" * (MAX_BODY_BYTES + 1),
            headers={"content-type": "application/json"},
        )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_chunked_oversized_body_gets_413(world: SecurityWorld) -> None:
    """A body sent without Content-Length must meet the same limit."""

    def chunks() -> Any:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    with open_client(world.stack) as client:
        response = client.post(
            "/auth/login",
            content=chunks(),
            headers={"content-type": "application/json"},
        )

    assert "content-length" not in response.request.headers
    assert response.status_code == 413


def _missing_headers(response: httpx.Response) -> dict[str, str | None]:
    return {
        name: response.headers.get(name)
        for name, value in SECURITY_HEADERS.items()
        if response.headers.get(name) != value
    }


def test_security_headers_on_every_response(world: SecurityWorld) -> None:
    """Check every response this module received, preflights apart."""
    with open_client(world.stack) as client:
        client.get("/health")
        client.get("/no/such/route")
        client.get("/auth/me")
        client.post("/auth/login", json={})
    recorded = [r for r in RECORDED_RESPONSES if r.request.method != "OPTIONS"]
    statuses = {r.status_code for r in recorded}
    missing = {
        f"{r.request.method} {r.request.url.path} {r.status_code}": _missing_headers(r)
        for r in recorded
        if _missing_headers(r)
    }

    assert {200, 401, 404, 410, 413, 422} <= statuses
    assert missing == {}


def test_preflight_responses_carry_security_headers(world: SecurityWorld) -> None:
    with open_client(world.stack) as client:
        evil = _preflight(client, "/lightrag/query", "https://evil.example")
        listed = _preflight(client, "/lightrag/query", UI_ORIGIN)

    assert _missing_headers(evil) == {}
    assert _missing_headers(listed) == {}
