"""A GraphQL client for the Linear issues and cycles the sync reads.

Queries stay far below Linear's 10,000-point complexity cap: every nested
connection has a small explicit `first` (comments and labels inside an issue
page), and the longer comment lists are paged separately. If Linear still
rejects a query as "Query too complex", the page size is halved and the page
requested again. Every list passes `includeArchived: true`, because archived and
trashed issues are hidden otherwise and would look deleted.

Linear signals a rate limit as HTTP 400 with the error code RATELIMITED, and
sometimes as HTTP 429. Both are retried after the reset time it announces.
"""

import time
from typing import Any

import httpx

from services.connectors.errors import (
    SourceAuthenticationFailed,
    SourceError,
    SourceRateLimited,
    SourceResponseInvalid,
)
from services.connectors.http import SourceHttp, parse_retry_after

JsonObject = dict[str, Any]

ISSUE_PAGE_SIZE = 50
NESTED_PAGE_SIZE = 20
MIN_PAGE_SIZE = 5

ISSUE_FIELDS = f"""
  id identifier number title description url priority priorityLabel estimate dueDate
  createdAt updatedAt startedAt completedAt canceledAt archivedAt autoArchivedAt trashed
  state {{ id name type }}
  assignee {{ id name email }}
  creator {{ id name }}
  team {{ id key name }}
  project {{ id name }}
  cycle {{ id number name }}
  parent {{ id }}
  labels(first: {NESTED_PAGE_SIZE}) {{ nodes {{ id name }} }}
  comments(first: {NESTED_PAGE_SIZE}) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ id body createdAt updatedAt user {{ id name }} }}
  }}
"""

ISSUES_QUERY = f"""
query SyncIssues($first: Int!, $after: String, $filter: IssueFilter) {{
  issues(first: $first, after: $after, orderBy: updatedAt, includeArchived: true,
         filter: $filter) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ {ISSUE_FIELDS} }}
  }}
}}
"""

COMMENTS_QUERY = """
query IssueComments($id: String!, $after: String) {
  issue(id: $id) {
    comments(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { id body createdAt updatedAt user { id name } }
    }
  }
}
"""

CYCLES_QUERY = """
query SyncCycles($first: Int!, $after: String, $filter: CycleFilter) {
  cycles(first: $first, after: $after, orderBy: updatedAt, includeArchived: true,
         filter: $filter) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id number name description startsAt endsAt completedAt archivedAt
      autoArchivedAt createdAt updatedAt progress isActive team { id key }
    }
  }
}
"""


class QueryTooComplex(SourceError):
    code = "source_query_too_complex"
    kind = "invalid_response"


class LinearClient:
    """Reads pages of issues and cycles from one Linear workspace."""

    def __init__(self, http: SourceHttp, api_url: str) -> None:
        self._http = http
        self._url = api_url

    async def issues_page(
        self, first: int, after: str | None, since: str | None
    ) -> tuple[list[JsonObject], str | None, int]:
        """Return a page of issues, the cursor of the next page and the size used."""
        connection, first = await self._page(
            ISSUES_QUERY, "issues", first, after, _updated_since(since)
        )
        issues = connection["nodes"]
        for issue in issues:
            await self._complete_comments(issue)
        return issues, _next_cursor(connection), first

    async def issues_by_id(self, ids: list[str]) -> list[JsonObject]:
        """Return the issues with these ids that exist, archived ones included."""
        found: list[JsonObject] = []
        for start in range(0, len(ids), ISSUE_PAGE_SIZE):
            chunk = ids[start : start + ISSUE_PAGE_SIZE]
            connection = await self._connection(
                ISSUES_QUERY, "issues", len(chunk), None, {"id": {"in": chunk}}
            )
            for issue in connection["nodes"]:
                await self._complete_comments(issue)
                found.append(issue)
        return found

    async def cycles_page(
        self, first: int, after: str | None, since: str | None
    ) -> tuple[list[JsonObject], str | None, int]:
        """Return a page of cycles, the cursor of the next page and the size used."""
        connection, first = await self._page(
            CYCLES_QUERY, "cycles", first, after, _updated_since(since)
        )
        return connection["nodes"], _next_cursor(connection), first

    async def _page(
        self,
        query: str,
        root: str,
        first: int,
        after: str | None,
        filter_: JsonObject | None,
    ) -> tuple[JsonObject, int]:
        """Fetch a page, halving its size while Linear finds the query too complex."""
        while True:
            try:
                return await self._connection(query, root, first, after, filter_), first
            except QueryTooComplex:
                if first <= MIN_PAGE_SIZE:
                    raise
                first = max(MIN_PAGE_SIZE, first // 2)

    async def _complete_comments(self, issue: JsonObject) -> None:
        comments = issue.get("comments")
        if not isinstance(comments, dict):
            raise SourceResponseInvalid("linear sent an issue without its comments")
        after = _next_cursor(comments)
        while after is not None:
            data = await self._query(
                COMMENTS_QUERY, {"id": issue["id"], "after": after}
            )
            page = _require_connection((data.get("issue") or {}).get("comments"))
            comments["nodes"].extend(page["nodes"])
            after = _next_cursor(page)
        comments["pageInfo"] = {"hasNextPage": False, "endCursor": None}

    async def _connection(
        self,
        query: str,
        root: str,
        first: int,
        after: str | None,
        filter_: JsonObject | None,
    ) -> JsonObject:
        variables = {"first": first, "after": after, "filter": filter_}
        data = await self._query(query, variables)
        return _require_connection(data.get(root))

    async def _query(self, query: str, variables: JsonObject) -> JsonObject:
        body = await self._http.request_json(
            "POST",
            self._url,
            json={"query": query, "variables": variables},
            check=check_response,
        )
        return dict(body["data"])


def _updated_since(since: str | None) -> JsonObject | None:
    return {"updatedAt": {"gt": since}} if since else None


def _next_cursor(connection: JsonObject) -> str | None:
    info = connection.get("pageInfo") or {}
    return info.get("endCursor") if info.get("hasNextPage") else None


def _require_connection(connection: Any) -> JsonObject:
    if (
        not isinstance(connection, dict)
        or not isinstance(connection.get("nodes"), list)
        or not isinstance(connection.get("pageInfo"), dict)
    ):
        raise SourceResponseInvalid("linear sent a page without nodes or pageInfo")
    return connection


def check_response(response: httpx.Response, body: Any) -> None:
    """Raise the SourceError that a Linear response signals, if any."""
    errors = body.get("errors") if isinstance(body, dict) else None
    if errors:
        _raise_for_errors(response, errors, body.get("data"))
    if response.status_code == 429:
        raise SourceRateLimited(
            "linear rate limited the request", retry_after=_reset_seconds(response)
        )
    if response.status_code < 400 and (
        not isinstance(body, dict) or not isinstance(body.get("data"), dict)
    ):
        raise SourceResponseInvalid("linear returned a response without data")


def _raise_for_errors(response: httpx.Response, errors: list[Any], data: Any) -> None:
    first = errors[0] if isinstance(errors[0], dict) else {}
    extensions = first.get("extensions") or {}
    code = str(extensions.get("code") or "").upper()
    kind = str(extensions.get("type") or "").lower()
    message = str(first.get("message") or "")
    detail = str(extensions.get("userPresentableMessage") or message)
    if code == "RATELIMITED" or kind == "ratelimited":
        raise SourceRateLimited(
            f"linear rate limited the request: {detail}",
            retry_after=_reset_seconds(response),
        )
    if "too complex" in message.lower() or "too complex" in detail.lower():
        raise QueryTooComplex(f"linear rejected the query: {detail}")
    if code == "AUTHENTICATION_ERROR" or kind in ("authentication error", "forbidden"):
        raise SourceAuthenticationFailed(
            f"linear rejected the API key: {detail}; check LINEAR_API_KEY"
        )
    if response.status_code >= 500 or data is None:
        raise SourceResponseInvalid(f"linear failed the query: {detail}")
    raise SourceError(f"linear rejected the query: {detail}")


def _reset_seconds(response: httpx.Response) -> float | None:
    """Seconds until Linear's limit resets, from Retry-After or the reset headers."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if retry_after is not None:
        return retry_after
    reset = response.headers.get("x-ratelimit-requests-reset")
    if reset and reset.isdigit():
        return max(0.0, int(reset) / 1000 - time.time())
    return None
