"""The fake's HTTP API: the Attio REST v2 endpoints that a CRM sync reads.

- `POST /v2/objects/{object}/records/query` lists records. Paging values go in
  the JSON body; `limit` and `offset` in the query string are ignored, as
  Attio ignores them. The response is `{"data": [record, ...]}` with no paging
  metadata.
- `GET /v2/objects/{object}/records/{record_id}` returns `{"data": record}`.
- `GET /v2/objects/{object}/records/{record_id}/attributes/{attribute}/values`
  returns an attribute's values, with history when `show_historic=true`.
- `GET /v2/workspace_members` and `GET /v2/workspace_members/{id}`, for the
  members that actor-reference values such as a deal's owner point to.

`{object}` is an object slug or the object's UUID. Requests need
`Authorization: Bearer <token>`, or HTTP Basic with the token as the user
name and an empty password. Every error is Attio's envelope
`{status_code, type, code, message}`.
"""

import base64
import binascii
import hmac
import json

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fakes.attio.errors import AttioError, filter_error, not_found, validation_error
from fakes.attio.faults import attio_injector, make_responder
from fakes.attio.query import parse_query_body, run_query
from fakes.attio.store import AttioStore, StoredRecord
from fakes.common.churn import Churn, install_churn
from fakes.common.faults import ADMIN_PREFIX, FaultPlan, RequestStats, install_faults

log = structlog.get_logger(__name__)

# NOTE: Attio does not document its 401 body. This assumes its usual envelope.
INVALID_TOKEN = AttioError(
    401,
    "auth_error",
    "invalid_token",
    "The access token is missing or invalid. Send Authorization: Bearer <token>.",
)


def create_app(
    store: AttioStore, *, api_token: str, faults: FaultPlan | None = None
) -> FastAPI:
    """Build the fake Attio API over store, accepting one token.

    faults is the initial FaultPlan, which `POST /__fake__/faults` replaces
    at run time; `POST /__fake__/churn` starts changing deals between
    requests. `app.state.faults` (a FaultInjector), `app.state.stats` (a
    RequestStats) and `app.state.churn` (a Churn) give tests the same control
    without HTTP.
    """
    app = FastAPI(
        title="Fake Attio REST API", docs_url=None, redoc_url=None, openapi_url=None
    )
    injector = attio_injector(faults)
    stats = RequestStats()
    churn = Churn(store.mutate)
    app.state.faults = injector
    app.state.stats = stats
    app.state.churn = churn
    app.state.store = store
    install_faults(app, injector, stats, make_responder(INVALID_TOKEN))
    install_churn(app, churn)
    app.add_exception_handler(AttioError, _error_response)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error_response)  # type: ignore[arg-type]

    def authorize(request: Request) -> None:
        if not _token_matches(request.headers.get("authorization", ""), api_token):
            raise INVALID_TOKEN

    router = APIRouter(prefix="/v2", dependencies=[Depends(authorize)])
    _add_record_routes(router, store)
    _add_member_routes(router, store)
    app.include_router(router)
    return app


def _add_record_routes(router: APIRouter, store: AttioStore) -> None:
    @router.post("/objects/{object_ref}/records/query")
    async def query_records(request: Request, object_ref: str) -> JSONResponse:
        object_slug = _object_slug(store, object_ref)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            raise filter_error("The request body is not valid JSON.") from None
        query = parse_query_body(body)
        with store.lock:
            records = run_query(store, object_slug, query)
            data = [store.record_json(record) for record in records]
        return JSONResponse({"data": data})

    @router.get("/objects/{object_ref}/records/{record_id}")
    async def get_record(object_ref: str, record_id: str) -> JSONResponse:
        object_slug = _object_slug(store, object_ref)
        with store.lock:
            record = _record(store, object_slug, record_id)
            return JSONResponse({"data": store.record_json(record)})

    @router.get(
        "/objects/{object_ref}/records/{record_id}/attributes/{attribute}/values"
    )
    async def get_attribute_values(
        request: Request, object_ref: str, record_id: str, attribute: str
    ) -> JSONResponse:
        params = request.query_params
        show_historic = _flag(params.get("show_historic"), "show_historic")
        limit = _optional_count(params.get("limit"), "limit")
        offset = _optional_count(params.get("offset"), "offset") or 0
        object_slug = _object_slug(store, object_ref)
        with store.lock:
            record = _record(store, object_slug, record_id)
            if attribute not in store.attributes(object_slug):
                raise not_found(f'Attribute with slug/ID "{attribute}" not found.')
            entries = store.attribute_history(
                record, attribute, show_historic=show_historic
            )
        end = None if limit is None else offset + limit
        return JSONResponse({"data": entries[offset:end]})


def _add_member_routes(router: APIRouter, store: AttioStore) -> None:
    @router.get("/workspace_members")
    async def list_members() -> JSONResponse:
        with store.lock:
            data = [store.member_json(member) for member in store.members()]
        return JSONResponse({"data": data})

    @router.get("/workspace_members/{member_id}")
    async def get_member(member_id: str) -> JSONResponse:
        member = store.get_member(member_id)
        if member is None:
            raise not_found(f'Workspace member with ID "{member_id}" not found.')
        return JSONResponse({"data": store.member_json(member)})


def _token_matches(header: str, api_token: str) -> bool:
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        token = credentials
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, separator, password = decoded.partition(":")
        if not separator or password:
            return False
        token = user
    else:
        return False
    return bool(token) and hmac.compare_digest(token.encode(), api_token.encode())


def _object_slug(store: AttioStore, object_ref: str) -> str:
    slug = store.resolve_object(object_ref)
    if slug is None:
        raise not_found(f'Object with slug/ID "{object_ref}" not found.')
    return slug


def _record(store: AttioStore, object_slug: str, record_id: str) -> StoredRecord:
    # A malformed id is reported as not found, like any unknown id.
    record = store.get_record(object_slug, record_id)
    if record is None:
        raise not_found(f'Record with ID "{record_id}" not found.')
    return record


def _flag(raw: str | None, name: str) -> bool:
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise validation_error(f"{name} must be true or false, not {raw!r}.")


def _optional_count(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit():
        raise validation_error(f"{name} must be a non-negative integer, not {raw!r}.")
    return int(raw)


async def _error_response(request: Request, error: AttioError) -> JSONResponse:
    log.debug(
        "fake.request_rejected",
        path=request.url.path,
        status=error.status_code,
        code=error.code,
        error=error.message,
    )
    return JSONResponse(error.body(), error.status_code)


async def _http_error_response(
    request: Request, error: StarletteHTTPException
) -> JSONResponse:
    """Send routing errors (unknown path, wrong method) in Attio's envelope."""
    if request.url.path.startswith(ADMIN_PREFIX):
        return JSONResponse({"detail": error.detail}, error.status_code)
    code = "not_found" if error.status_code == 404 else "invalid_request"
    body = AttioError(
        error.status_code, "invalid_request_error", code, str(error.detail)
    ).body()
    return JSONResponse(body, error.status_code, headers=error.headers)
