"""The fake's HTTP API: Chatwoot's Application API endpoints that a sync reads.

Served under `/api/v1/accounts/{account_id}`: the conversation list, one
conversation, a conversation's messages, the contact list and one contact.
Responses copy Chatwoot's wire format, its defaults and its errors:
- 401 `{"error": "Invalid Access Token"}` for a missing or wrong
  `api_access_token` header;
- 401 `{"error": "You are not authorized to do this action"}` for another
  account id;
- 404 `{"error": "Resource could not be found"}` for an unknown id.
"""

import hmac
import mimetypes

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import QueryParams

from fakes.chatwoot import finders
from fakes.chatwoot.faults import chatwoot_injector, respond
from fakes.chatwoot.models import JsonObject
from fakes.chatwoot.serializers import Serializer
from fakes.chatwoot.store import ChatwootStore
from fakes.common.churn import Churn, install_churn
from fakes.common.faults import FaultPlan, RequestStats, install_faults

log = structlog.get_logger(__name__)

INVALID_TOKEN = "Invalid Access Token"
NOT_AUTHORIZED = "You are not authorized to do this action"
NOT_FOUND = "Resource could not be found"
# Rack turns both header spellings into HTTP_API_ACCESS_TOKEN, so Chatwoot accepts both.
TOKEN_HEADERS = ("api_access_token", "api-access-token")


class ChatwootError(Exception):
    """An error that the API returns as Chatwoot's `{"error": message}` body."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def create_app(
    store: ChatwootStore,
    *,
    api_token: str,
    account_id: int,
    faults: FaultPlan | None = None,
) -> FastAPI:
    """Build the fake Chatwoot API over store for one account and one token.

    The token belongs to the store's first agent, which is "me" for
    `assignee_type=me` and `mine_count`. faults is the initial FaultPlan,
    which `POST /__fake__/faults` replaces at run time. `app.state.faults` (a
    FaultInjector) and `app.state.stats` (a RequestStats) give tests the same
    control without HTTP.
    """
    app = FastAPI(title="Fake Chatwoot Application API", docs_url=None, redoc_url=None)
    injector = chatwoot_injector(faults)
    stats = RequestStats()
    app.state.faults = injector
    app.state.stats = stats
    app.state.store = store
    install_faults(app, injector, stats, respond)
    churn = Churn(store.mutate)
    app.state.churn = churn
    install_churn(app, churn)
    app.add_exception_handler(ChatwootError, _error_response)  # type: ignore[arg-type]

    def authorize(request: Request, account: str) -> None:
        token = next(
            (request.headers[h] for h in TOKEN_HEADERS if h in request.headers), ""
        )
        if not token or not hmac.compare_digest(token.encode(), api_token.encode()):
            raise ChatwootError(401, INVALID_TOKEN)
        if account != str(account_id):
            raise ChatwootError(401, NOT_AUTHORIZED)

    router = APIRouter(
        prefix="/api/v1/accounts/{account}", dependencies=[Depends(authorize)]
    )
    _add_conversation_routes(router, store, account_id)
    _add_contact_routes(router, store, account_id)
    app.include_router(router)
    _add_attachment_route(app, store)
    return app


def _add_conversation_routes(
    router: APIRouter, store: ChatwootStore, account_id: int
) -> None:
    @router.get("/conversations")
    async def list_conversations(request: Request) -> JSONResponse:
        query = _conversation_query(request.query_params)
        with store.lock:
            owner_id = min((a.id for a in store.agents()), default=None)
            result = finders.find_conversations(store, query, current_agent_id=owner_id)
            serializer = Serializer(store, account_id, str(request.base_url))
            payload = [serializer.conversation(c) for c in result.conversations]
        meta = {
            "mine_count": result.mine_count,
            "assigned_count": result.assigned_count,
            "unassigned_count": result.unassigned_count,
            "all_count": result.all_count,
        }
        return JSONResponse({"data": {"meta": meta, "payload": payload}})

    @router.get("/conversations/{display_id}")
    async def show_conversation(request: Request, display_id: str) -> JSONResponse:
        with store.lock:
            conversation = store.get_conversation(_path_id(display_id))
            if conversation is None:
                raise ChatwootError(404, NOT_FOUND)
            serializer = Serializer(store, account_id, str(request.base_url))
            return JSONResponse(serializer.conversation(conversation))

    @router.get("/conversations/{display_id}/messages")
    async def list_messages(request: Request, display_id: str) -> JSONResponse:
        params = request.query_params
        before = _message_cursor(params, "before")
        after = _message_cursor(params, "after")
        filter_internal = bool(params.get("filter_internal_messages", "").strip())
        with store.lock:
            conversation = store.get_conversation(_path_id(display_id))
            if conversation is None:
                raise ChatwootError(404, NOT_FOUND)
            messages = finders.find_messages(
                conversation,
                before=before,
                after=after,
                filter_internal=filter_internal,
            )
            serializer = Serializer(store, account_id, str(request.base_url))
            body = {
                "meta": serializer.messages_meta(conversation),
                "payload": [serializer.message(m) for m in messages],
            }
        return JSONResponse(body)


def _add_contact_routes(
    router: APIRouter, store: ChatwootStore, account_id: int
) -> None:
    @router.get("/contacts")
    async def list_contacts(request: Request) -> JSONResponse:
        params = request.query_params
        raw_page = params.get("page")
        with_inboxes = params.get("include_contact_inboxes") != "false"
        with store.lock:
            contacts, count = finders.find_contacts(
                store, sort=params.get("sort"), page=finders.page_number(raw_page)
            )
            serializer = Serializer(store, account_id, str(request.base_url))
            payload = [
                serializer.contact(c, with_inboxes=with_inboxes) for c in contacts
            ]
        # Chatwoot echoes `page` as given: a string from the query, else the integer 1.
        meta: JsonObject = {"count": count, "current_page": raw_page or 1}
        return JSONResponse({"meta": meta, "payload": payload})

    @router.get("/contacts/{contact_id}")
    async def show_contact(request: Request, contact_id: str) -> JSONResponse:
        with store.lock:
            contact = store.get_contact(_path_id(contact_id))
            if contact is None:
                raise ChatwootError(404, NOT_FOUND)
            serializer = Serializer(store, account_id, str(request.base_url))
            return JSONResponse(
                {"payload": serializer.contact(contact, with_inboxes=True)}
            )


def _add_attachment_route(app: FastAPI, store: ChatwootStore) -> None:
    # Chatwoot serves files through signed Active Storage URLs, so no token is needed.
    @app.get("/rails/active_storage/blobs/redirect/{attachment_id}/{file_name}")
    async def download_attachment(attachment_id: str, file_name: str) -> Response:
        attachment = store.find_attachment(_path_id(attachment_id))
        if attachment is None or attachment.file_name != file_name:
            raise ChatwootError(404, NOT_FOUND)
        media_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        content = f"placeholder content of attachment {attachment.id}\n".encode()
        return Response(content, media_type=media_type)


def _conversation_query(params: QueryParams) -> finders.ConversationQuery:
    raw_inbox = params.get("inbox_id")
    q = params.get("q")
    return finders.ConversationQuery(
        status=params.get("status"),
        assignee_type=params.get("assignee_type"),
        inbox_id=finders.ruby_to_i(raw_inbox) if raw_inbox else None,
        labels=params.getlist("labels[]") or params.getlist("labels"),
        q=q if q and q.strip() else None,
        sort_by=params.get("sort_by"),
        page=finders.page_number(params.get("page")),
        updated_within=params.get("updated_within"),
    )


def _message_cursor(params: QueryParams, name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        # NOTE: Chatwoot passes the text to SQL unchecked, but the fake rejects it.
        raise ChatwootError(
            422, f"{name} must be an integer message id, not {raw!r}"
        ) from None


def _path_id(raw: str) -> int:
    if not raw.isdigit():
        raise ChatwootError(404, NOT_FOUND)
    return int(raw)


async def _error_response(request: Request, error: ChatwootError) -> JSONResponse:
    log.debug(
        "fake.request_rejected",
        path=request.url.path,
        status=error.status_code,
        error=error.message,
    )
    return JSONResponse({"error": error.message}, error.status_code)
