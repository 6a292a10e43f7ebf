"""Linear sync against the fake Linear over real HTTP, into a real database."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from fakes.common.faults import FaultPlan
from fakes.linear import LinearStore, create_app, load_schema
from fakes.linear.datasets import load_github_issues
from fakes.openai.server import serve_in_thread
from services.connectors import failures, feed
from services.connectors.errors import SourceAuthenticationFailed
from services.connectors.http import SourceHttp
from services.connectors.linear import sync as linear_sync
from services.connectors.linear.client import LinearClient
from services.connectors.linear.sync import IssuesEntity
from services.connectors.passes import SyncIncomplete, run_pass, write_records
from tests.connectors import harness
from tests.connectors.conftest import PROJECT

KEY = "lin_api_test_key"
SHARED = Path(__file__).resolve().parents[3] / "shared"
ISSUES_FILE = (
    SHARED / "data" / "real" / "issues" / "inexbug_npm_github_issues_closed.jsonl"
)


@pytest.fixture(scope="module")
def schema():
    return load_schema(SHARED / "specs" / "linear-schema.graphql")


@pytest.fixture
def store() -> LinearStore:
    return LinearStore()


@pytest.fixture
def fake(store: LinearStore, schema) -> Iterator[tuple[str, object]]:
    app = create_app(store, api_key=KEY, schema=schema)
    with serve_in_thread(app) as url:
        yield f"{url}/graphql", app


@pytest.fixture
async def http() -> AsyncIterator[SourceHttp]:
    async with harness.source_http("linear", {"Authorization": KEY}) as client:
        yield client


def _eng_team(store: LinearStore, count: int = 5) -> list[str]:
    team = store.add_team("ENG", "Engineering")
    return [
        store.add_issue(team.id, f"Issue {n}", description=f"Details of issue {n}").id
        for n in range(1, count + 1)
    ]


async def _rows(pool: asyncpg.Pool) -> dict[str, asyncpg.Record]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM connectors.linear_issues_raw WHERE project_id = $1",
            uuid.UUID(PROJECT),
        )
    return {row["identifier"]: row for row in rows}


async def test_full_sync_of_real_issues_matches_the_source(
    connectors_pool, store, fake, http
) -> None:
    loaded = load_github_issues(store, ISSUES_FILE)
    archived = sum(1 for issue in store.issues() if issue.archived_at)

    ctx = await harness.sync(connectors_pool, http, fake[0], mode="full")
    rows = await _rows(connectors_pool)

    assert len(rows) == len(loaded) == len(store.issues())
    assert sum(1 for r in rows.values() if r["archived_at"]) == archived > 0
    assert ctx.counts["issues_seen"] >= len(loaded)
    comments = sum(len(store.comments(issue.id)) for issue in store.issues())
    assert sum(r["comment_count"] for r in rows.values()) == comments


async def test_archived_issue_is_kept_not_deleted(
    connectors_pool, store, fake, http
) -> None:
    """F07: ENG-4 is done and archived; the sync keeps all five issues."""
    ids = _eng_team(store)
    done = store.team_state(store.find_team_by_key("ENG").id, "completed")
    store.update_issue(ids[3], state_id=done.id)
    store.archive_issue(ids[3])

    await harness.sync(connectors_pool, http, fake[0], mode="full")
    rows = await _rows(connectors_pool)
    async with connectors_pool.acquire() as conn:
        documents = await feed.read_changes(conn, PROJECT, 0, 100, "")

    assert sorted(rows) == ["ENG-1", "ENG-2", "ENG-3", "ENG-4", "ENG-5"]
    assert rows["ENG-4"]["archived_at"] is not None
    assert rows["ENG-4"]["deleted_at"] is None
    assert rows["ENG-4"]["state_type"] == "completed"
    indexed = {d.title.split()[0] for d in documents if not d.deleted}
    assert indexed == {"ENG-1", "ENG-2", "ENG-3", "ENG-5"}


async def test_comments_labels_under_complexity_cap(
    connectors_pool, store, fake, http
) -> None:
    """F06: three issues with many comments and labels are stored whole."""
    ids = _eng_team(store, 3)
    team = store.find_team_by_key("ENG")
    labels = [store.add_label(f"label-{n}", team_id=team.id).id for n in range(5)]
    for issue_id in ids:
        store.update_issue(issue_id, label_ids=tuple(labels))
        for n in range(45):
            store.add_comment(issue_id, f"comment {n} on {issue_id}")
    app = fake[1]
    app.state.faults.set_plan(FaultPlan(script=("too_complex",)))

    ctx = await harness.sync(connectors_pool, http, fake[0], mode="full")
    rows = await _rows(connectors_pool)

    assert [r["comment_count"] for r in rows.values()] == [45, 45, 45]
    assert ctx.counts["pages_failed"] == 0
    async with connectors_pool.acquire() as conn:
        documents = await feed.read_changes(conn, PROJECT, 0, 100, "")
    assert all(len(d.sections) == 46 for d in documents)
    assert all(d.metadata["labels"].count("label-") == 5 for d in documents)


async def test_incremental_sync_writes_only_changed_issues(
    connectors_pool, store, fake, http
) -> None:
    ids = _eng_team(store)
    await harness.sync(connectors_pool, http, fake[0])
    store.update_issue(ids[1], title="Renamed issue 2")

    ctx = await harness.sync(connectors_pool, http, fake[0])
    rows = await _rows(connectors_pool)

    assert ctx.counts["issues_written"] == 1
    assert rows["ENG-2"]["title"] == "Renamed issue 2"


async def test_rate_limit_sent_as_http_400_is_retried(
    connectors_pool, store, fake, http
) -> None:
    _eng_team(store)
    fake[1].state.faults.set_plan(FaultPlan(script=("ok", "ratelimited", "429")))

    ctx = await harness.sync(connectors_pool, http, fake[0])

    assert len(await _rows(connectors_pool)) == 5
    assert http.rate_limited == 2
    assert ctx.counts["pages_failed"] == 0


async def test_small_pages_are_written_together(
    connectors_pool, store, fake, http
) -> None:
    _eng_team(store, 120)
    written: list[int] = []

    async def progress(counts: dict[str, int]) -> None:
        written.append(counts["issues_seen"])

    ctx = harness.context(connectors_pool, "linear")
    ctx.progress = progress
    issues = linear_sync.entities(LinearClient(http, fake[0]), PROJECT)[1]
    await run_pass(ctx, issues, full=True)

    # Three pages of 50 issues go in one transaction, reported once.
    assert written == [120]
    assert len(await _rows(connectors_pool)) == 120


async def test_failed_page_keeps_the_cursor_and_retry_resumes(
    connectors_pool, store, fake, http
) -> None:
    _eng_team(store, 120)
    # The second issue page fails on every one of its three attempts.
    fake[1].state.faults.set_plan(FaultPlan(script=("ok", "ok", "503", "503", "503")))

    with pytest.raises(SyncIncomplete):
        await harness.sync(connectors_pool, http, fake[0])
    async with connectors_pool.acquire() as conn:
        errors = await failures.list_errors(
            conn, PROJECT, connector="linear", status=None, limit=10, before_id=None
        )
    stored_after_failure = len(await _rows(connectors_pool))
    await failures_due_now(connectors_pool)
    await harness.sync(connectors_pool, http, fake[0], mode="retry")
    async with connectors_pool.acquire() as conn:
        resolved = await failures.list_errors(
            conn,
            PROJECT,
            connector="linear",
            status="resolved",
            limit=10,
            before_id=None,
        )

    assert [(e.entity, e.kind, e.status) for e in errors] == [
        ("issues", "transient", "pending")
    ]
    assert errors[0].position["after"] is not None
    assert stored_after_failure == 50
    assert len(await _rows(connectors_pool)) == 120
    assert [e.id for e in resolved] == [errors[0].id]


async def failures_due_now(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await failures.make_due(conn, PROJECT, None)


async def test_bad_key_records_one_authentication_error(
    connectors_pool, store, fake
) -> None:
    _eng_team(store)
    async with harness.source_http("linear", {"Authorization": "wrong"}) as bad:
        with pytest.raises(SourceAuthenticationFailed):
            await harness.sync(connectors_pool, bad, fake[0])
        with pytest.raises(SourceAuthenticationFailed):
            await harness.sync(connectors_pool, bad, fake[0])
    async with connectors_pool.acquire() as conn:
        errors = await failures.list_errors(
            conn, PROJECT, connector="linear", status=None, limit=10, before_id=None
        )
        due = await failures.due_errors(conn, PROJECT, "linear")

    assert [(e.kind, e.status, e.attempts) for e in errors] == [
        ("authentication", "pending", 2)
    ]
    assert errors[0].next_retry_at is None
    assert due == []
    assert fake[1].state.stats.snapshot()["total"] == 2


async def test_full_pass_tombstones_deleted_issue(
    connectors_pool, store, fake, http
) -> None:
    ids = _eng_team(store, 3)
    await harness.sync(connectors_pool, http, fake[0], mode="full")
    store.delete_issue(ids[0])

    await harness.sync(connectors_pool, http, fake[0], mode="full")
    rows = await _rows(connectors_pool)
    async with connectors_pool.acquire() as conn:
        documents = await feed.read_changes(conn, PROJECT, 0, 100, "")

    assert rows["ENG-1"]["deleted_at"] is not None
    assert rows["ENG-2"]["deleted_at"] is None
    deleted = [d.title for d in documents if d.deleted]
    assert [d.external_id for d in documents if d.deleted] == [ids[0]]
    assert deleted == ["ENG-1 Issue 1"]


async def test_targeted_sync_fetches_only_the_named_issues(
    connectors_pool, store, fake, http
) -> None:
    ids = _eng_team(store)

    ctx = await harness.sync(
        connectors_pool, http, fake[0], mode="targeted", external_ids=[ids[2]]
    )

    assert sorted(await _rows(connectors_pool)) == ["ENG-3"]
    assert ctx.counts["issues_written"] == 1


async def test_record_without_id_is_skipped_once(connectors_pool) -> None:
    ctx = harness.context(connectors_pool, "linear")
    entity = IssuesEntity(None, PROJECT)  # type: ignore[arg-type]
    good = {
        "id": "a1",
        "identifier": "ENG-1",
        "title": "Fine",
        "updatedAt": "2026-01-01T00:00:00.000Z",
        "comments": {"nodes": []},
    }
    broken = {"identifier": "ENG-2", "title": "No id", "updatedAt": None}

    async with connectors_pool.acquire() as conn, conn.transaction():
        await write_records(ctx, conn, entity, [broken, good], None)
        errors = await failures.list_errors(
            conn, PROJECT, connector="linear", status=None, limit=10, before_id=None
        )

    assert sorted(await _rows(connectors_pool)) == ["ENG-1"]
    assert [(e.target, e.kind, e.attempts) for e in errors] == [
        ("ENG-2", "invalid_record", 1)
    ]
    assert ctx.counts["records_invalid"] == 1
