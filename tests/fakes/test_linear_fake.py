"""The fake Linear API: GraphQL wire format, paging, archive rules, cost, faults."""

import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse

from fakes.common.faults import FaultPlan
from fakes.linear import datasets
from fakes.linear.__main__ import build_store, parse_args
from fakes.linear.app import create_app, load_schema
from fakes.linear.complexity import RateLimits, estimate_complexity
from fakes.linear.faults import FAULT_KINDS
from fakes.linear.store import LinearStore
from fakes.openai.server import serve_in_thread

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = REPO_ROOT / ".." / "shared" / "data" / "real"
GITHUB_ISSUES = REAL_DATA / "issues" / "inexbug_npm_github_issues_closed.jsonl"

API_KEY = "lin_api_test"
NOW = 1_796_000_000.0  # 2026-11-30, a fixed store clock
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)

# The issues query a sync should send, field for field.
RECOMMENDED_ISSUES_QUERY = """
query IssuesSince($after: String, $since: DateTimeOrDuration!) {
  issues(first: 100, after: $after, orderBy: updatedAt, includeArchived: true,
         filter: { updatedAt: { gt: $since } }) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id identifier number title description url
      priority priorityLabel estimate dueDate
      createdAt updatedAt startedAt completedAt canceledAt archivedAt
      autoArchivedAt trashed
      state { id name type }
      assignee { id name email }
      creator { id name }
      team { id key name }
      project { id name }
      cycle { id number name }
      parent { id }
      labelIds
    }
  }
}
"""
CYCLES_QUERY = """
query Cycles($after: String, $since: DateTimeOrDuration!) {
  cycles(first: 3, after: $after, orderBy: updatedAt, includeArchived: true,
         filter: { updatedAt: { gt: $since } }) {
    pageInfo { hasNextPage endCursor }
    nodes { id number name description startsAt endsAt completedAt archivedAt
            autoArchivedAt createdAt updatedAt progress isActive team { id key } }
  }
}
"""
PROJECTS_QUERY = """
query Projects($after: String, $since: DateTimeOrDuration!) {
  projects(first: 50, after: $after, orderBy: updatedAt, includeArchived: true,
           filter: { updatedAt: { gt: $since } }) {
    pageInfo { hasNextPage endCursor }
    nodes { id name description slugId url priority progress
            status { id name type } startDate targetDate startedAt completedAt
            canceledAt archivedAt createdAt updatedAt lead { id }
            teams(first: 10) { nodes { id } } }
  }
}
"""
TEAMS_QUERY = """
{ teams(first: 100, includeArchived: true) {
    nodes { id key name displayName createdAt updatedAt archivedAt } } }
"""
IDENTIFIERS_QUERY = """
query Identifiers($archived: Boolean) {
  issues(includeArchived: $archived) { nodes { identifier archivedAt trashed } }
}
"""
# Comments and labels without `first` are charged 50 nodes per issue.
NESTED_UNBOUNDED_QUERY = """
{ issues(first: 50) { nodes {
    id identifier number title description url priority priorityLabel estimate
    dueDate createdAt updatedAt startedAt completedAt canceledAt archivedAt
    autoArchivedAt trashed labelIds
    state { id name type } assignee { id name email } creator { id name }
    team { id key name } project { id name } cycle { id number name } parent { id }
    comments { nodes { id body createdAt updatedAt archivedAt user { id name } } }
    labels { nodes { id name color } }
} } }
"""
NESTED_BOUNDED_QUERY = NESTED_UNBOUNDED_QUERY.replace(
    "comments {", "comments(first: 10) {"
).replace("labels {", "labels(first: 10) {")
RECOMMENDED_FIELDS = {
    "id", "identifier", "number", "title", "description", "url", "priority",
    "priorityLabel", "estimate", "dueDate", "createdAt", "updatedAt", "startedAt",
    "completedAt", "canceledAt", "archivedAt", "autoArchivedAt", "trashed", "state",
    "assignee", "creator", "team", "project", "cycle", "parent", "labelIds",
}  # fmt: skip


class Clock:
    """A settable clock for the store, in unix seconds."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module", autouse=True)
def built_schema() -> None:
    """Build Linear's large schema once, before the first test needs it."""
    load_schema()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> LinearStore:
    return LinearStore(clock=clock)


def make_client(
    store: LinearStore,
    *,
    faults: FaultPlan | None = None,
    authorization: str | None = API_KEY,
    rate_limits: RateLimits | None = None,
) -> httpx.AsyncClient:
    app = create_app(store, api_key=API_KEY, faults=faults, rate_limits=rate_limits)
    headers = {"Authorization": authorization} if authorization is not None else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1:3002",
        headers=headers,
    )


@pytest.fixture
async def client(store: LinearStore) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(store) as http:
        yield http


async def post_query(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}
    )


async def data_of(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> Any:
    response = await post_query(client, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def walk_pages(
    client: httpx.AsyncClient, query: str, root: str, variables: dict[str, Any]
) -> list[list[dict[str, Any]]]:
    """Follow endCursor while hasNextPage is true and return every page."""
    pages = []
    after = None
    while True:
        data = await data_of(client, query, {**variables, "after": after})
        connection = data[root]
        pages.append(connection["nodes"])
        if not connection["pageInfo"]["hasNextPage"]:
            return pages
        after = connection["pageInfo"]["endCursor"]


def add_eng_issues(store: LinearStore, count: int) -> list[str]:
    """Add team ENG with one user and issues ENG-1..ENG-count, one minute apart."""
    team = store.add_team("ENG", "Engineering")
    user = store.add_user("Ada Lovelace", "ada@example.com", admin=True)
    label = store.add_label("Bug", team_id=team.id, color="#eb5757")
    start = store.now_ms() - count * 60_000
    ids = []
    for number in range(1, count + 1):
        issue = store.add_issue(
            team.id,
            f"Issue {number}",
            created_at=start + number * 60_000,
            assignee_id=user.id,
            creator_id=user.id,
            label_ids=[label.id],
        )
        store.add_comment(
            issue.id,
            f"Comment on {number}",
            user_id=user.id,
            created_at=issue.created_at + 1000,
            touch_issue=False,
        )
        ids.append(issue.id)
    return ids


def archive_eng_4(store: LinearStore) -> None:
    """Complete and archive ENG-4, as Linear's auto-archive leaves it."""
    issue = store.find_issue("ENG-4")
    assert issue is not None
    done = store.team_state(issue.team_id, "completed")
    store.update_issue(issue.id, state_id=done.id)
    store.archive_issue(issue.id, auto=True)


# Recommended queries and paging


async def test_recommended_issues_query_pages_all(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    ids = add_eng_issues(store, 230)
    store.archive_issue(ids[10])
    store.trash_issue(ids[20])

    pages = await walk_pages(
        client, RECOMMENDED_ISSUES_QUERY, "issues", {"since": "2000-01-01T00:00:00Z"}
    )

    assert [len(page) for page in pages] == [100, 100, 30]
    seen = [node["id"] for page in pages for node in page]
    assert len(seen) == len(set(seen))
    assert set(seen) == set(ids)
    node = pages[0][0]
    assert set(node) == RECOMMENDED_FIELDS
    assert isinstance(node["number"], int)
    assert TIMESTAMP.match(node["createdAt"])
    assert TIMESTAMP.match(node["updatedAt"])
    assert node["team"]["key"] == "ENG"
    assert node["state"]["type"] == "unstarted"
    assert node["identifier"] == f"ENG-{node['number']}"
    assert node["url"].endswith(f"/issue/{node['identifier']}/issue-{node['number']}")


async def test_issues_order_updated_at_descending(
    store: LinearStore, client: httpx.AsyncClient, clock: Clock
) -> None:
    ids = add_eng_issues(store, 5)
    clock.now = NOW + 60
    store.update_issue(ids[0], title="Renamed")

    data = await data_of(
        client, "{ issues(orderBy: updatedAt) { nodes { id updatedAt } } }"
    )
    by_created = await data_of(client, "{ issues { nodes { id } } }")

    nodes = data["issues"]["nodes"]
    assert nodes[0]["id"] == ids[0]
    stamps = [n["updatedAt"] for n in nodes]
    assert stamps == sorted(stamps, reverse=True)
    assert [n["id"] for n in by_created["issues"]["nodes"]] == list(reversed(ids))


async def test_cursor_walk_survives_updates(
    store: LinearStore, client: httpx.AsyncClient, clock: Clock
) -> None:
    ids = add_eng_issues(store, 9)
    query = """query($after: String) { issues(first: 3, after: $after,
        orderBy: updatedAt) { pageInfo { hasNextPage endCursor } nodes { id } } }"""
    first = await data_of(client, query)
    clock.now = NOW + 60
    store.update_issue(ids[0], title="Moved to the front")
    rest = await walk_pages(client, query, "issues", {})
    rest_after_first = await data_of(
        client, query, {"after": first["issues"]["pageInfo"]["endCursor"]}
    )

    first_ids = [n["id"] for n in first["issues"]["nodes"]]
    assert first_ids == list(reversed(ids))[:3]
    after_ids = [n["id"] for n in rest_after_first["issues"]["nodes"]]
    assert after_ids == list(reversed(ids))[3:6]
    assert sum(len(page) for page in rest) == 9


async def test_cycles_query_pages_all(
    store: LinearStore, client: httpx.AsyncClient, clock: Clock
) -> None:
    team = store.add_team("ENG", "Engineering")
    week_ms = 7 * 86_400_000
    now_ms = store.now_ms()
    for index in range(7):
        start = now_ms + (index - 3) * 2 * week_ms
        store.add_cycle(team.id, start, start + 2 * week_ms, name=f"Cycle {index}")

    pages = await walk_pages(client, CYCLES_QUERY, "cycles", {"since": "-P1D"})

    assert [len(page) for page in pages] == [3, 3, 1]
    nodes = [node for page in pages for node in page]
    assert sorted(n["number"] for n in nodes) == list(range(1, 8))
    assert sum(1 for n in nodes if n["isActive"]) == 1
    assert all(n["team"]["key"] == "ENG" for n in nodes)
    assert all(TIMESTAMP.match(n["startsAt"]) for n in nodes)


async def test_projects_and_teams_queries(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    team = store.add_team("ENG", "Engineering")
    lead = store.add_user("Ada Lovelace", "ada@example.com")
    store.add_project(
        "Storefront", team_ids=[team.id], lead_id=lead.id, target_date="2027-01-31"
    )

    projects = await data_of(client, PROJECTS_QUERY, {"since": "-P1D"})
    teams = await data_of(client, TEAMS_QUERY)

    (project,) = projects["projects"]["nodes"]
    assert project["status"]["type"] == "started"
    assert project["lead"] == {"id": lead.id}
    assert project["teams"]["nodes"] == [{"id": team.id}]
    assert project["targetDate"] == "2027-01-31"
    assert project["priority"] == 0
    (team_node,) = teams["teams"]["nodes"]
    assert team_node["key"] == "ENG"
    assert team_node["displayName"] == "Engineering"


async def test_edges_and_page_info(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 5)
    query = """query($after: String) { issues(first: 2, after: $after) {
        edges { cursor node { identifier } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""

    first = (await data_of(client, query))["issues"]
    second = (await data_of(client, query, {"after": first["pageInfo"]["endCursor"]}))[
        "issues"
    ]

    assert [e["node"]["identifier"] for e in first["edges"]] == ["ENG-5", "ENG-4"]
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]
    assert first["pageInfo"]["endCursor"] == first["edges"][-1]["cursor"]
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True
    assert [e["node"]["identifier"] for e in second["edges"]] == ["ENG-3", "ENG-2"]


async def test_first_defaults_to_50(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 60)

    data = await data_of(client, "{ issues { pageInfo { hasNextPage } nodes { id } } }")

    assert len(data["issues"]["nodes"]) == 50
    assert data["issues"]["pageInfo"]["hasNextPage"] is True


@pytest.mark.parametrize("first", [251, -1])
async def test_first_out_of_range_rejected(
    store: LinearStore, client: httpx.AsyncClient, first: int
) -> None:
    add_eng_issues(store, 2)

    response = await post_query(
        client, f"{{ issues(first: {first}) {{ nodes {{ id }} }} }}"
    )

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INPUT_ERROR"
    assert error["extensions"]["type"] == "invalid input"


async def test_first_250_accepted(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 3)

    data = await data_of(client, "{ issues(first: 250) { nodes { id } } }")

    assert len(data["issues"]["nodes"]) == 3


async def test_bad_cursor_rejected(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 3)
    page = await data_of(
        client,
        "{ issues(first: 1, orderBy: updatedAt) { pageInfo { endCursor } } }",
    )
    cursor = page["issues"]["pageInfo"]["endCursor"]

    garbage = await post_query(client, '{ issues(after: "%%%") { nodes { id } } }')
    other_order = await post_query(
        client,
        "query($c: String) { issues(after: $c) { nodes { id } } }",
        {"c": cursor},
    )

    assert garbage.status_code == 400
    assert garbage.json()["errors"][0]["extensions"]["code"] == "INPUT_ERROR"
    assert other_order.status_code == 400


# Archive rules


async def test_include_archived_shows_archived_issue(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 5)
    archive_eng_4(store)

    default = await data_of(client, IDENTIFIERS_QUERY)
    with_archived = await data_of(client, IDENTIFIERS_QUERY, {"archived": True})

    default_ids = {n["identifier"] for n in default["issues"]["nodes"]}
    assert default_ids == {"ENG-1", "ENG-2", "ENG-3", "ENG-5"}
    every = {n["identifier"]: n for n in with_archived["issues"]["nodes"]}
    assert set(every) == {"ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-5"}
    assert TIMESTAMP.match(every["ENG-4"]["archivedAt"])
    assert every["ENG-5"]["archivedAt"] is None


async def test_trashed_issue_hidden_like_archived(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    ids = add_eng_issues(store, 3)
    store.trash_issue(ids[1])

    default = await data_of(client, IDENTIFIERS_QUERY)
    with_archived = await data_of(client, IDENTIFIERS_QUERY, {"archived": True})

    assert {n["identifier"] for n in default["issues"]["nodes"]} == {"ENG-1", "ENG-3"}
    trashed = [n for n in with_archived["issues"]["nodes"] if n["trashed"]]
    assert [n["identifier"] for n in trashed] == ["ENG-2"]
    assert trashed[0]["archivedAt"] is not None
    untouched = [n for n in with_archived["issues"]["nodes"] if not n["trashed"]]
    assert all(n["trashed"] is None for n in untouched)


async def test_deleted_issue_gone_everywhere(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    ids = add_eng_issues(store, 3)
    store.delete_issue(ids[0])

    issues = await data_of(client, IDENTIFIERS_QUERY, {"archived": True})
    comments = await data_of(
        client, "{ comments(includeArchived: true) { nodes { body } } }"
    )
    by_id = await post_query(client, f'{{ issue(id: "{ids[0]}") {{ id }} }}')

    assert {n["identifier"] for n in issues["issues"]["nodes"]} == {"ENG-2", "ENG-3"}
    assert "Comment on 1" not in {n["body"] for n in comments["comments"]["nodes"]}
    assert by_id.status_code == 200
    assert by_id.json()["data"] is None
    assert by_id.json()["errors"][0]["message"] == "Entity not found: Issue"


async def test_issue_by_id_or_identifier(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    ids = add_eng_issues(store, 3)
    query = """query($id: String!) { issue(id: $id) { id identifier
        comments { nodes { id body createdAt updatedAt archivedAt user { id name } } }
    } }"""

    by_id = await data_of(client, query, {"id": ids[1]})
    by_identifier = await data_of(client, query, {"id": "ENG-2"})

    assert by_id == by_identifier
    assert by_id["issue"]["identifier"] == "ENG-2"
    (comment,) = by_id["issue"]["comments"]["nodes"]
    assert comment["body"] == "Comment on 2"
    assert comment["user"]["name"] == "Ada Lovelace"
    assert comment["archivedAt"] is None


# Filters


async def test_updated_at_gt_returns_later_issues(
    store: LinearStore, client: httpx.AsyncClient, clock: Clock
) -> None:
    ids = add_eng_issues(store, 6)
    clock.now = NOW + 600
    store.update_issue(ids[1], priority=1)
    store.add_comment(ids[4], "A later comment")
    watermark = datetime.fromtimestamp(NOW + 300, tz=UTC).isoformat()
    query = """query($since: DateTimeOrDuration!) {
        issues(filter: { updatedAt: { gt: $since } }) { nodes { id } } }"""

    later = await data_of(client, query, {"since": watermark})
    by_duration = await data_of(client, query, {"since": "-PT5M"})

    assert {n["id"] for n in later["issues"]["nodes"]} == {ids[1], ids[4]}
    assert {n["id"] for n in by_duration["issues"]["nodes"]} == {ids[1], ids[4]}


async def test_date_and_id_comparators(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    ids = add_eng_issues(store, 5)
    issue_3 = store.get_issue(ids[2])
    assert issue_3 is not None
    created_3 = datetime.fromtimestamp(issue_3.created_at / 1000, tz=UTC).isoformat()
    query = """query($filter: IssueFilter) {
        issues(filter: $filter) { nodes { identifier } } }"""

    async def identifiers(issue_filter: dict[str, Any]) -> set[str]:
        data = await data_of(client, query, {"filter": issue_filter})
        return {n["identifier"] for n in data["issues"]["nodes"]}

    assert await identifiers({"createdAt": {"gte": created_3}}) == {
        "ENG-3",
        "ENG-4",
        "ENG-5",
    }
    assert await identifiers({"createdAt": {"lt": created_3}}) == {"ENG-1", "ENG-2"}
    assert await identifiers({"createdAt": {"lte": created_3}}) == {
        "ENG-1",
        "ENG-2",
        "ENG-3",
    }
    assert await identifiers({"createdAt": {"eq": created_3}}) == {"ENG-3"}
    assert await identifiers({"id": {"eq": ids[0]}}) == {"ENG-1"}
    assert await identifiers({"id": {"in": [ids[0], ids[4]]}}) == {"ENG-1", "ENG-5"}


async def test_unsupported_filter_rejected(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 2)

    response = await post_query(
        client, '{ issues(filter: { title: { eq: "x" } }) { nodes { id } } }'
    )

    assert response.status_code == 400
    assert "title" in response.json()["errors"][0]["message"]


# Store changes


def test_update_moves_updated_at_strictly_later(store: LinearStore) -> None:
    (issue_id,) = add_eng_issues(store, 1)
    issue = store.get_issue(issue_id)
    assert issue is not None
    before = issue.updated_at

    first = store.update_issue(issue_id, title="One").updated_at
    second = store.update_issue(issue_id, title="Two").updated_at

    assert first > before
    assert second > first


def test_comment_touches_issue(store: LinearStore, clock: Clock) -> None:
    (issue_id,) = add_eng_issues(store, 1)
    clock.now = NOW + 30

    store.add_comment(issue_id, "Ping")

    issue = store.get_issue(issue_id)
    assert issue is not None
    assert issue.updated_at == round((NOW + 30) * 1000)


def test_state_change_stamps_completed_at(store: LinearStore, clock: Clock) -> None:
    (issue_id,) = add_eng_issues(store, 1)
    issue = store.get_issue(issue_id)
    assert issue is not None
    clock.now = NOW + 10

    done = store.update_issue(
        issue_id, state_id=store.team_state(issue.team_id, "completed").id
    )
    reopened = store.update_issue(
        issue_id, state_id=store.team_state(issue.team_id, "started").id
    )

    assert done.completed_at == round((NOW + 10) * 1000)
    assert reopened.completed_at is None
    assert reopened.started_at is not None


def test_store_rejects_bad_links(store: LinearStore) -> None:
    team = store.add_team("ENG", "Engineering")

    with pytest.raises(KeyError, match="user"):
        store.add_issue(team.id, "x", assignee_id="missing")
    with pytest.raises(ValueError, match="priority"):
        store.add_issue(team.id, "x", priority=7)
    with pytest.raises(ValueError, match="already exists"):
        store.add_team("ENG", "Other")


async def test_churn_changes_records(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 4)
    before = {i.id: (i.title, i.updated_at) for i in store.issues()}
    comments_before = len(store.comments())

    started = await client.post("/__fake__/churn", json={"every": 1, "seed": 3})
    for _ in range(6):
        await data_of(client, "{ issues { nodes { id } } }")
    churn = (await client.get("/__fake__/churn")).json()

    assert started.status_code == 200
    assert len(churn["changes"]) == 6
    assert all(re.match(r"^(changed title|added comment)", c) for c in churn["changes"])
    changed = [i for i in store.issues() if (i.title, i.updated_at) != before[i.id]]
    assert changed
    titles = sum(c.startswith("changed title") for c in churn["changes"])
    added = len(store.comments()) - comments_before
    assert added == 6 - titles


# Cost and rate limits


def test_complexity_matches_published_example() -> None:
    schema = load_schema()
    default = parse("{ viewer { createdIssues { nodes { id title createdAt } } } }")
    small = parse(
        "{ viewer { createdIssues(first: 10) { nodes { id title createdAt } } } }"
    )

    # The viewer object costs 1 on top of the connection's 66 and 14.
    assert estimate_complexity(schema, default, None, None) == pytest.approx(67)
    assert estimate_complexity(schema, small, None, None) == pytest.approx(15)


def test_complexity_reads_variables_and_fragments() -> None:
    schema = load_schema()
    document = parse(
        """query($n: Int = 10) { issues(first: $n) { nodes { ...F } } }
        fragment F on Issue { id title }"""
    )

    assert estimate_complexity(schema, document, None, None) == pytest.approx(13)
    assert estimate_complexity(schema, document, None, {"n": 20}) == pytest.approx(25)


async def test_nested_connections_without_first_too_complex(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 3)

    response = await post_query(client, NESTED_UNBOUNDED_QUERY)

    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    (error,) = body["errors"]
    assert error["message"] == "Query too complex"
    extensions = error["extensions"]
    assert extensions["type"] == "invalid input"
    assert extensions["code"] == "INPUT_ERROR"
    assert extensions["statusCode"] == 400
    assert extensions["userError"] is True
    assert extensions["http"] == {"status": 400}
    assert re.match(
        r"^The query is too complex\. Complexity: [\d.]+\. "
        r"Maximum allowed complexity: 10000\.$",
        extensions["userPresentableMessage"],
    )
    assert float(response.headers["X-Complexity"]) > 10_000


async def test_nested_connections_with_small_first_pass(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 3)

    response = await post_query(client, NESTED_BOUNDED_QUERY)

    assert response.status_code == 200, response.text
    nodes = response.json()["data"]["issues"]["nodes"]
    assert len(nodes) == 3
    assert all(len(n["comments"]["nodes"]) == 1 for n in nodes)
    assert all(n["labels"]["nodes"][0]["name"] == "Bug" for n in nodes)
    assert int(response.headers["X-Complexity"]) < 10_000


async def test_rate_limit_headers_on_every_answer(
    store: LinearStore, client: httpx.AsyncClient
) -> None:
    add_eng_issues(store, 1)

    ok = await post_query(client, RECOMMENDED_ISSUES_QUERY, {"since": "-P1D"})
    invalid = await post_query(client, "{ issues { nodes { nope } } }")

    for response in (ok, invalid):
        for kind in ("Requests", "Complexity"):
            assert f"X-RateLimit-{kind}-Limit" in response.headers
            assert f"X-RateLimit-{kind}-Remaining" in response.headers
            reset = int(response.headers[f"X-RateLimit-{kind}-Reset"])
            assert reset >= int(time.time() * 1000) - 1000
    assert ok.headers["X-RateLimit-Requests-Limit"] == "2500"
    assert ok.headers["X-RateLimit-Complexity-Limit"] == "3000000"
    # About 11.6 points per issue for 100 issues, plus the connection and pageInfo.
    assert ok.headers["X-Complexity"] == "1162"


async def test_request_budget_runs_out(store: LinearStore) -> None:
    limits = RateLimits(requests_per_hour=2, complexity_per_hour=1000)
    async with make_client(store, rate_limits=limits) as http:
        answers = [
            await post_query(http, "{ teams { nodes { id } } }") for _ in range(3)
        ]

    assert [a.status_code for a in answers] == [200, 200, 400]
    error = answers[2].json()["errors"][0]
    assert error["extensions"]["code"] == "RATELIMITED"
    assert error["extensions"]["type"] == "ratelimited"
    assert answers[2].headers["X-RateLimit-Requests-Remaining"] == "0"


# Request errors and auth


async def test_invalid_field_is_validation_error(client: httpx.AsyncClient) -> None:
    response = await post_query(client, "{ issues { nodes { id notAField } } }")

    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    error = body["errors"][0]
    assert "notAField" in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["locations"]


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ issues { nodes { id } "},
        {"query": ""},
        {"variables": {}},
        {"query": "{ teams { nodes { id } } }", "variables": [1]},
    ],
)
async def test_malformed_requests_are_400(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await client.post("/graphql", json=body)

    assert response.status_code == 400
    assert response.json()["errors"]


async def test_wrong_variable_type_is_400(client: httpx.AsyncClient) -> None:
    response = await post_query(
        client, "query($n: Int) { issues(first: $n) { nodes { id } } }", {"n": "ten"}
    )

    assert response.status_code == 400
    assert response.json()["data"] is None


async def test_unimplemented_root_field_named(client: httpx.AsyncClient) -> None:
    response = await post_query(client, "{ rateLimitStatus { identifier } }")

    assert response.status_code == 200
    assert (
        "does not implement Query.rateLimitStatus"
        in response.json()["errors"][0]["message"]
    )


async def test_mutations_not_implemented(client: httpx.AsyncClient) -> None:
    response = await post_query(
        client, 'mutation { issueArchive(id: "x") { success } }'
    )

    assert response.status_code == 200
    message = response.json()["errors"][0]["message"]
    assert "does not implement Mutation.issueArchive" in message


@pytest.mark.parametrize(
    "authorization", [None, "", "wrong", "Bearer wrong", "Basic x"]
)
async def test_bad_key_is_auth_error(
    store: LinearStore, authorization: str | None
) -> None:
    async with make_client(store, authorization=authorization) as http:
        response = await post_query(http, "{ teams { nodes { id } } }")

    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "AUTHENTICATION_ERROR"
    assert error["extensions"]["type"] == "authentication error"


@pytest.mark.parametrize("authorization", [API_KEY, f"Bearer {API_KEY}"])
async def test_key_accepted_bare_or_bearer(
    store: LinearStore, authorization: str
) -> None:
    async with make_client(store, authorization=authorization) as http:
        response = await post_query(http, "{ teams { nodes { id } } }")

    assert response.status_code == 200


# Faults


async def fault_response(store: LinearStore, kind: str) -> httpx.Response:
    plan = FaultPlan(script=(kind,), hang_seconds=0.05)
    async with make_client(store, faults=plan) as http:
        return await post_query(http, RECOMMENDED_ISSUES_QUERY, {"since": "-P1D"})


async def test_fault_ratelimited_is_400(store: LinearStore) -> None:
    response = await fault_response(store, "ratelimited")

    assert response.status_code == 400
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "RATELIMITED"
    assert body["errors"][0]["extensions"]["type"] == "ratelimited"
    assert "X-RateLimit-Requests-Reset" in response.headers


async def test_fault_429_has_retry_after(store: LinearStore) -> None:
    response = await fault_response(store, "429")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "30"


@pytest.mark.parametrize("kind", ["500", "502", "503"])
async def test_fault_server_errors(store: LinearStore, kind: str) -> None:
    response = await fault_response(store, kind)

    assert response.status_code == int(kind)


async def test_fault_401(store: LinearStore) -> None:
    response = await fault_response(store, "401")

    assert response.status_code == 401
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "AUTHENTICATION_ERROR"


async def test_fault_timeout_hangs_then_answers(store: LinearStore) -> None:
    started = time.monotonic()
    response = await fault_response(store, "timeout")

    assert time.monotonic() - started >= 0.05
    assert response.status_code == 200
    assert "issues" in response.json()["data"]


async def test_fault_truncated_is_invalid_json(store: LinearStore) -> None:
    add_eng_issues(store, 3)

    response = await fault_response(store, "truncated")

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


async def test_fault_malformed_lacks_nodes(store: LinearStore) -> None:
    response = await fault_response(store, "malformed")

    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["type"] == "internal error"


async def test_fault_too_complex(store: LinearStore) -> None:
    response = await fault_response(store, "too_complex")

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["message"] == "Query too complex"
    assert error["extensions"]["code"] == "INPUT_ERROR"


def test_every_fault_kind_tested() -> None:
    assert set(FAULT_KINDS) == {
        "ratelimited", "429", "500", "502", "503", "401", "timeout", "truncated",
        "malformed", "too_complex",
    }  # fmt: skip


async def test_faults_set_at_runtime(client: httpx.AsyncClient) -> None:
    no_auth = {"Authorization": ""}

    set_plan = await client.post(
        "/__fake__/faults", json={"script": ["ratelimited"]}, headers=no_auth
    )
    failed = await post_query(client, "{ teams { nodes { id } } }")
    passed = await post_query(client, "{ teams { nodes { id } } }")
    unknown = await client.post("/__fake__/faults", json={"kinds": ["418"]})
    stats = (await client.get("/__fake__/stats")).json()

    assert set_plan.status_code == 200
    assert failed.status_code == 400
    assert passed.status_code == 200
    assert unknown.status_code == 422
    assert stats["faults"] == {"ratelimited": 1}


# Real HTTP


def test_served_over_real_http(store: LinearStore) -> None:
    add_eng_issues(store, 2)
    app = create_app(store, api_key=API_KEY)

    with serve_in_thread(app) as base_url:
        response = httpx.post(
            f"{base_url}/graphql",
            json={"query": "{ issues { nodes { identifier number } } }"},
            headers={"Authorization": API_KEY},
        )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert '"number":2' in response.text
    assert response.json()["data"]["issues"]["nodes"][0]["identifier"] == "ENG-2"


# Loaders


def expected_archived_count(path: Path) -> int:
    """Count closed issues older than the loader's archive period, read directly."""
    records = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    closed = [
        datetime.fromisoformat(r["closed_at"]).timestamp() * 1000 for r in records
    ]
    newest = max(closed)
    limit = datasets.ARCHIVE_AFTER_DAYS * datasets.DAY_MS
    return sum(1 for c in closed if newest - c > limit)


def test_github_loader_full_file() -> None:
    store = LinearStore()

    issue_ids = datasets.load_github_issues(store, GITHUB_ISSUES)

    counts = store.counts()
    assert len(issue_ids) == 428
    assert counts["issues"] == 428
    assert counts["comments"] == 2320
    assert counts["teams"] == 103
    assert counts["archived_issues"] == expected_archived_count(GITHUB_ISSUES)
    assert counts["archived_issues"] == 295
    keys = [t.key for t in store.teams()]
    assert len(keys) == len(set(keys))
    assert all(re.fullmatch(r"[A-Z]{1,5}", key) for key in keys)
    state_types = Counter(store.get_state(i.state_id).type for i in store.issues())  # type: ignore[union-attr]
    assert state_types == {"completed": 422, "canceled": 6}


def test_github_loader_ids_are_deterministic() -> None:
    first, second = LinearStore(), LinearStore()

    ids_first = datasets.load_github_issues(first, GITHUB_ISSUES, 40)
    ids_second = datasets.load_github_issues(second, GITHUB_ISSUES, 40)
    reloaded = datasets.load_github_issues(first, GITHUB_ISSUES, 40)

    assert ids_first == ids_second
    assert {c.id for c in first.comments()} == {c.id for c in second.comments()}
    assert reloaded == []
    assert first.counts()["issues"] == 40


def test_github_loader_maps_fields() -> None:
    store = LinearStore()
    datasets.load_github_issues(store, GITHUB_ISSUES, 1)

    (issue,) = store.issues()
    team = store.get_team(issue.team_id)
    assert team is not None
    assert team.name == "eslint-plugin-react"
    assert team.key == "EPR"
    assert store.identifier(issue) == "EPR-1717"
    assert issue.title.startswith("Spaces get condensed")
    assert issue.completed_at is not None
    assert [store.get_label(x).name for x in issue.label_ids] == ["bug", "help wanted"]  # type: ignore[union-attr]
    assert len(store.comments(issue.id)) == 4
    assert issue.updated_at >= max(c.updated_at for c in store.comments(issue.id))


def test_github_loader_rejects_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "issues.jsonl"
    path.write_text('{"id": 1}\n', encoding="utf-8")

    with pytest.raises(ValueError, match="lacks fields"):
        datasets.load_github_issues(LinearStore(), path)


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("eslint-plugin-react", set(), "EPR"),
        ("webpack", set(), "WEB"),
        ("webpack", {"WEB"}, "WEBP"),
        ("got", {"GOT"}, "GOTA"),
        ("bn.js", set(), "BJ"),
    ],
)
def test_team_key(name: str, taken: set[str], expected: str) -> None:
    assert datasets.team_key(name, taken) == expected


def test_demo_workspace(clock: Clock) -> None:
    store = LinearStore(clock=clock)

    issue_ids = datasets.generate_demo(store, seed=7)

    counts = store.counts()
    assert len(issue_ids) == 40
    assert counts["teams"] == 2
    assert counts["cycles"] == 3
    assert counts["projects"] == 2
    assert counts["archived_issues"] == 4
    assert counts["comments"] >= 40
    assert sum(1 for i in store.issues() if CYRILLIC.search(i.title)) >= 3
    assert all(i.updated_at <= store.now_ms() for i in store.issues())
    assert {i.cycle_id for i in store.issues()} - {None}
    assert {len(i.label_ids) for i in store.issues()} - {0}


def test_demo_is_deterministic(clock: Clock) -> None:
    first, second = LinearStore(clock=clock), LinearStore(clock=clock)

    ids = datasets.generate_demo(first, seed=3)

    assert datasets.generate_demo(second, seed=3) == ids
    assert [i.title for i in first.issues()] == [i.title for i in second.issues()]
    assert [c.body for c in first.comments()] == [c.body for c in second.comments()]


async def test_demo_has_one_active_cycle(clock: Clock) -> None:
    store = LinearStore(clock=clock)
    datasets.generate_demo(store)

    async with make_client(store) as http:
        data = await data_of(http, "{ cycles { nodes { number isActive isPast } } }")

    by_number = {n["number"]: n for n in data["cycles"]["nodes"]}
    assert by_number[2]["isActive"] is True
    assert by_number[1]["isPast"] is True
    assert by_number[3]["isActive"] is False


# Command line


def test_cli_defaults() -> None:
    args = parse_args(["--api-key", "k"])

    assert args.host == "127.0.0.1"
    assert args.port == 3002
    assert args.data is None
    assert args.schema.name == "linear-schema.graphql"


def test_cli_builds_store_from_both_data_sets() -> None:
    args = parse_args(
        ["--api-key", "k", "--data", "demo", "--data", "github-issues", "--limit", "10"]
    )

    store = build_store(args)

    assert store.counts()["issues"] == 50
    assert store.counts()["teams"] >= 3


def test_cli_missing_data_dir(tmp_path: Path) -> None:
    args = parse_args(
        ["--api-key", "k", "--data", "github-issues", "--data-dir", str(tmp_path)]
    )

    with pytest.raises(SystemExit, match="not found"):
        build_store(args)
