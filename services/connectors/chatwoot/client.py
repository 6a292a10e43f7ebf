"""Client of the Chatwoot Application API, limited to what the sync reads.

Wire facts this client depends on (Chatwoot's finders and views):
- conversations are listed 25 a page and default to `status=open`, so the
  sync always sends `status=all`; `created_at_asc` keeps page boundaries
  stable while new conversations arrive;
- `updated_within=<seconds>` returns every matching conversation in one
  unpaginated response;
- the messages endpoint returns only the newest 20; older ones come by passing
  the smallest id seen as `before` until a page is empty;
- contacts are listed 15 a page, and without `sort` the order is undefined.
"""

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from services.connectors.errors import SourceResponseInvalid
from services.connectors.http import SourceHttp

CONVERSATIONS_PAGE_SIZE = 25
CONTACTS_PAGE_SIZE = 15

JsonObject = dict[str, Any]


class ChatwootClient:
    """Reads contacts, conversations and messages of one Chatwoot account."""

    def __init__(self, http: SourceHttp, base_url: str, account_id: int) -> None:
        self._http = http
        self._base = f"{base_url.rstrip('/')}/api/v1/accounts/{account_id}"

    async def iter_conversation_pages(self) -> AsyncIterator[list[JsonObject]]:
        """Yield every conversation of every status, a page at a time."""
        page = 1
        while True:
            params = {"status": "all", "sort_by": "created_at_asc", "page": page}
            body = await self._http.request_json(
                "GET", f"{self._base}/conversations", params=params
            )
            rows = _payload(body, "data", "payload")
            if rows:
                yield rows
            if len(rows) < CONVERSATIONS_PAGE_SIZE:
                return
            page += 1

    async def conversations_updated_within(self, seconds: int) -> list[JsonObject]:
        """Return every conversation updated in the last `seconds` (unpaginated)."""
        params = {"status": "all", "updated_within": seconds}
        body = await self._http.request_json(
            "GET", f"{self._base}/conversations", params=params
        )
        return _payload(body, "data", "payload")

    async def get_conversation(self, display_id: str) -> JsonObject:
        """Return one conversation by its display id."""
        body = await self._http.request_json(
            "GET", f"{self._base}/conversations/{quote(display_id, safe='')}"
        )
        if not isinstance(body, dict) or "id" not in body:
            raise SourceResponseInvalid(
                f"conversation {display_id}: unexpected body shape"
            )
        return body

    async def list_all_messages(self, display_id: str) -> list[JsonObject]:
        """Return every message of a conversation, oldest first, paging backwards."""
        url = f"{self._base}/conversations/{display_id}/messages"
        collected: dict[int, JsonObject] = {}
        before: int | None = None
        while True:
            params = {"before": before} if before is not None else {}
            rows = _payload(
                await self._http.request_json("GET", url, params=params), "payload"
            )
            new_ids = [
                _message_id(row) for row in rows if _message_id(row) not in collected
            ]
            if not rows or not new_ids:
                break
            for row in rows:
                collected[_message_id(row)] = row
            before = min(new_ids)
        return [collected[key] for key in sorted(collected)]

    async def iter_contact_pages(self) -> AsyncIterator[list[JsonObject]]:
        """Yield every listed contact, a page at a time, in creation order."""
        page = 1
        while True:
            params = {
                "page": page,
                "sort": "created_at",
                "include_contact_inboxes": "false",
            }
            body = await self._http.request_json(
                "GET", f"{self._base}/contacts", params=params
            )
            rows = _payload(body, "payload")
            if rows:
                yield rows
            if len(rows) < CONTACTS_PAGE_SIZE:
                return
            page += 1


def _payload(body: Any, *path: str) -> list[JsonObject]:
    node = body
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise SourceResponseInvalid(f"Chatwoot response lacks {'.'.join(path)}")
        node = node[key]
    if not isinstance(node, list) or not all(isinstance(row, dict) for row in node):
        raise SourceResponseInvalid(
            f"Chatwoot {'.'.join(path)} is not a list of objects"
        )
    return node


def _message_id(row: JsonObject) -> int:
    value = row.get("id")
    if not isinstance(value, int):
        raise SourceResponseInvalid(
            f"Chatwoot message without an integer id: {value!r}"
        )
    return value
