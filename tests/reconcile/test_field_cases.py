"""Reconciliation figures of the field cases about Linear and Chatwoot listings."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from fakes.chatwoot.app import create_app as create_chatwoot
from fakes.chatwoot.models import AttachmentSpec
from fakes.chatwoot.store import ChatwootStore
from fakes.linear import LinearStore, load_schema
from fakes.linear import create_app as create_linear
from fakes.openai.server import serve_in_thread
from gen.reconcile.v1 import reconcile_pb2 as pb
from tests.reconcile.harness import Services, run_sync, serve

SHARED = Path(__file__).resolve().parents[3] / "shared"
CHATWOOT_TOKEN = "chatwoot-reconcile-token"
LINEAR_KEY = "lin_api_reconcile_key"


@pytest.fixture
def chatwoot() -> ChatwootStore:
    return ChatwootStore()


@pytest.fixture
def linear() -> LinearStore:
    return LinearStore()


@pytest.fixture
def sources(chatwoot: ChatwootStore, linear: LinearStore) -> Iterator[dict[str, str]]:
    schema = load_schema(SHARED / "specs" / "linear-schema.graphql")
    chatwoot_app = create_chatwoot(chatwoot, api_token=CHATWOOT_TOKEN, account_id=1)
    linear_app = create_linear(linear, api_key=LINEAR_KEY, schema=schema)
    with serve_in_thread(chatwoot_app) as chatwoot_url:
        with serve_in_thread(linear_app) as linear_url:
            yield {
                "CHATWOOT_BASE_URL": chatwoot_url,
                "CHATWOOT_API_TOKEN": CHATWOOT_TOKEN,
                "CHATWOOT_ACCOUNT_ID": "1",
                "LINEAR_API_URL": f"{linear_url}/graphql",
                "LINEAR_API_KEY": LINEAR_KEY,
            }


@pytest.fixture
async def services(
    database_dsn: str, sources: dict[str, str]
) -> AsyncIterator[Services]:
    async with serve(database_dsn, sources) as running:
        yield running


async def _reconcile(services: Services, connector: str) -> dict[str, pb.EntityReport]:
    report = await services.reconcile.RunReconciliation(
        pb.RunReconciliationRequest(connectors=[connector]),
        metadata=services.metadata(),
    )
    return {entity.entity: entity for entity in report.entities}


def _figures(entity: pb.EntityReport) -> tuple[int, ...]:
    return (
        entity.source_count,
        entity.raw_count,
        entity.missing_in_raw,
        entity.orphans,
        entity.stale,
    )


async def test_archived_linear_issue_is_neither_missing_nor_deleted(
    services: Services, linear: LinearStore
) -> None:
    """F07: ENG-4 is done and archived; Linear 5, local 5, missing 0."""
    team = linear.add_team("ENG", "Engineering")
    issues = [linear.add_issue(team.id, f"Issue {n}").id for n in range(1, 6)]
    linear.update_issue(issues[3], state_id=linear.team_state(team.id, "completed").id)
    linear.archive_issue(issues[3])

    await run_sync(services, "linear")
    figures = await _reconcile(services, "linear")

    assert _figures(figures["issues"]) == (5, 5, 0, 0, 0)
    assert figures["issues"].completeness == 1.0


async def test_conversations_of_every_status_are_counted(
    services: Services, chatwoot: ChatwootStore
) -> None:
    """F08: 7 conversations, 3 open, 2 resolved, 1 pending, 1 snoozed."""
    contact = chatwoot.add_contact("Jane", email="jane@example.com")
    for status in ["open"] * 3 + ["resolved"] * 2 + ["pending", "snoozed"]:
        conversation = chatwoot.add_conversation(contact.id, status=status)
        chatwoot.add_message(conversation.display_id, f"a {status} conversation")

    await run_sync(services, "chatwoot")
    figures = await _reconcile(services, "chatwoot")

    assert _figures(figures["conversations"]) == (7, 7, 0, 0, 0)
    assert _figures(figures["messages"]) == (7, 7, 0, 0, 0)
    assert _figures(figures["contacts"]) == (1, 1, 0, 0, 0)


async def test_every_message_of_a_long_conversation_is_counted(
    services: Services, chatwoot: ChatwootStore
) -> None:
    """F09: conversation 501 has 45 messages, ids 9001 to 9045."""
    contact = chatwoot.add_contact("Ivan", email="ivan@example.com")
    chatwoot.add_conversation(contact.id, display_id=501)
    for message_id in range(9001, 9046):
        chatwoot.add_message(501, f"message {message_id}", message_id=message_id)

    await run_sync(services, "chatwoot")
    await run_sync(services, "chatwoot", "incremental")
    figures = await _reconcile(services, "chatwoot")

    assert _figures(figures["messages"]) == (45, 45, 0, 0, 0)


async def test_nul_null_and_html_messages_are_all_counted(
    services: Services, chatwoot: ChatwootStore
) -> None:
    """F03 and F10: 25 messages, one with NUL; 3 null, HTML and markdown ones."""
    contact = chatwoot.add_contact("Pavel", email="pavel@example.com")
    payments = chatwoot.add_conversation(contact.id)
    for index in range(1, 26):
        text = "Оплата\u0000 прошла" if index == 13 else f"сообщение {index}"
        chatwoot.add_message(payments.display_id, text)
    mixed = chatwoot.add_conversation(contact.id)
    attachment = AttachmentSpec(file_type="image", data_url="https://files.test/a.png")
    chatwoot.add_message(mixed.display_id, None, attachments=[attachment])
    chatwoot.add_message(mixed.display_id, "<p><strong>Счёт №55</strong> оплачен</p>")
    chatwoot.add_message(mixed.display_id, "**срочно** перезвоните")

    await run_sync(services, "chatwoot")
    figures = await _reconcile(services, "chatwoot")

    assert _figures(figures["messages"]) == (28, 28, 0, 0, 0)
    assert figures["messages"].completeness == 1.0
