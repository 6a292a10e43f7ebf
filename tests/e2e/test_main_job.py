"""The main job through the real gateway, services and fake Chatwoot, as processes."""

import re
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from devstack import main_job
from devstack.stack import FakeSource, RunningStack
from fakes.chatwoot.__main__ import build_store, parse_args
from fakes.chatwoot.store import ChatwootStore
from tests.e2e.stacks import REAL_DATA, launch_stack

pytestmark = pytest.mark.e2e

DATA_SETS = ["banking", "multiwoz-ru"]
LIMIT = 30
CYRILLIC = re.compile("[а-яА-ЯёЁ]")


def _source_store() -> ChatwootStore:
    """The same data the fake serves, built the same way the fake builds it."""
    args = ["--token=x", f"--data-dir={REAL_DATA}", f"--limit={LIMIT}"]
    return build_store(parse_args(args + [f"--data={name}" for name in DATA_SETS]))


@pytest.fixture(scope="module")
def source() -> ChatwootStore:
    return _source_store()


@pytest.fixture(scope="module")
def stack(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    fakes = {"chatwoot": FakeSource(0, DATA_SETS, REAL_DATA, LIMIT)}
    running = launch_stack(postgres_dsn, tmp_path_factory, fakes)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def api(stack: RunningStack) -> main_job.ApiSession:
    session = main_job.login(
        stack.gateway_url, stack.config.owner_username, stack.config.owner_password
    )
    main_job.select_project(session, "E2E")
    return session


@pytest.fixture(scope="module")
def first_sync(api: main_job.ApiSession) -> dict:
    return main_job.sync_and_wait(api, "chatwoot")


@pytest.fixture(scope="module")
def embedded(api: main_job.ApiSession, first_sync: dict) -> dict:
    """Run the embeddings, then wait for the scheduled chain a sync starts."""
    result = dict(api.post("/jobs/embeddings/run"))
    main_job.wait_for_embeddings(api, timeout_seconds=300)
    return result


def _raw_counts(stack: RunningStack) -> tuple[set[str], set[str]]:
    import asyncio

    async def read() -> tuple[set[str], set[str]]:
        conn = await asyncpg.connect(stack.database_url)
        try:
            conversations = {
                r[0]
                for r in await conn.fetch(
                    "SELECT external_id FROM connectors.cw_conversations"
                )
            }
            messages = {
                r[0]
                for r in await conn.fetch(
                    "SELECT external_id FROM connectors.cw_messages"
                )
            }
        finally:
            await conn.close()
        return conversations, messages

    return asyncio.run(read())


def test_requests_without_session_get_401(stack: RunningStack) -> None:
    response = httpx.get(f"{stack.gateway_url}/connectors/state")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_post_without_csrf_token_gets_403(
    stack: RunningStack, api: main_job.ApiSession
) -> None:
    cookies = api.client.cookies
    response = httpx.post(f"{stack.gateway_url}/jobs/chatwoot/sync", cookies=cookies)
    forged = httpx.post(
        f"{stack.gateway_url}/jobs/chatwoot/sync",
        cookies=cookies,
        headers={"x-csrf-token": "forged"},
    )

    assert response.status_code == 403
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "csrf_invalid"


def test_unknown_run_id_gets_404(api: main_job.ApiSession) -> None:
    response = api.client.get(f"/jobs/runs/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "run_not_found"


def test_sync_stores_every_conversation_and_message(
    stack: RunningStack, source: ChatwootStore, first_sync: dict
) -> None:
    conversations, messages = _raw_counts(stack)
    expected_messages = {str(m.id) for c in source.conversations() for m in c.messages}

    assert first_sync["status"] == "succeeded"
    assert conversations == {str(c.display_id) for c in source.conversations()}
    assert messages == expected_messages
    assert max(len(c.messages) for c in source.conversations()) > 20
    assert {c.status for c in source.conversations()} == {
        "open",
        "resolved",
        "pending",
        "snoozed",
    }


def test_embeddings_leave_every_chunk_ready(
    api: main_job.ApiSession, embedded: dict
) -> None:
    status = api.get("/lightrag/status")

    # The manual run and the scheduled embeddings job share the work.
    assert embedded["embedded"] >= 0
    assert status["chunks_by_status"]["ready"] > 0
    assert status["chunks_by_status"]["pending"] == 0
    assert status["chunks_by_status"]["processing"] == 0
    assert status["chunks_by_status"]["failed"] == 0
    assert status["embedding_model"] == "multilingual-e5-small"
    assert status["embedding_dimension"] == 384


def _conversation_language(source: ChatwootStore) -> dict[str, str]:
    return {
        str(c.display_id): "ru"
        if any(CYRILLIC.search(m.content or "") for m in c.messages)
        else "en"
        for c in source.conversations()
    }


def test_russian_question_finds_russian_dialogues(
    api: main_job.ApiSession, embedded: dict, source: ChatwootStore
) -> None:
    language = _conversation_language(source)

    result = api.post(
        "/lightrag/query", {"question": "Мне нужно заказать такси до ресторана"}
    )
    top = [item["external_id"] for item in result["evidence"][:3]]

    assert len(top) == 3
    assert [language[key] for key in top] == ["ru", "ru", "ru"]
    assert result["citations"]
    assert result["query_run_id"]
    assert re.fullmatch("[0-9a-f]{32}", result["trace_id"])


def test_english_question_finds_banking_dialogues(
    api: main_job.ApiSession, embedded: dict, source: ChatwootStore
) -> None:
    language = _conversation_language(source)
    banking = {
        str(c.display_id)
        for c in source.conversations()
        if language[str(c.display_id)] == "en"
    }

    result = api.post(
        "/lightrag/query",
        {
            "question": "How do I transfer money between my checking"
            " and savings accounts?"
        },
    )
    top = [item["external_id"] for item in result["evidence"][:3]]

    assert set(top) <= banking
    assert len(top) == 3
    assert re.search(r"\[1\]", result["answer"])


def test_unchanged_source_makes_no_embedding_call(
    api: main_job.ApiSession, embedded: dict
) -> None:
    second = main_job.sync_and_wait(api, "chatwoot")
    again = api.post("/jobs/embeddings/run")

    assert second["counts"].get("documents_changed", 0) == 0
    assert again["indexing"]["documents"] == 0
    assert again["embedded"] == 0
    assert again["batches"] == 0


def test_second_sync_request_returns_running_run(
    api: main_job.ApiSession, embedded: dict
) -> None:
    first = api.post("/jobs/chatwoot/sync", {"mode": "full"}, expected=202)
    second = api.post("/jobs/chatwoot/sync", {"mode": "full"}, expected=202)
    finished = main_job.wait_for_run(api, first["run_id"])

    assert second["run_id"] == first["run_id"]
    assert second["already_running"] is True
    assert finished["status"] == "succeeded"


def test_unprintable_external_id_gets_400(api: main_job.ApiSession) -> None:
    response = api.client.post(
        "/connectors/chatwoot/sync", json={"external_ids": ["1\u0000"]}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_external_id"


def test_unknown_connector_gets_404(api: main_job.ApiSession) -> None:
    response = api.client.post("/connectors/salesforce/sync")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "connector_not_found"
