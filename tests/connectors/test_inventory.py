"""Id listings of the source APIs and the local tables, over real HTTP and Postgres."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest

from fakes.attio import AttioStore
from fakes.attio import create_app as create_attio_app
from fakes.attio.datasets import load_maven_crm
from fakes.chatwoot.app import create_app as create_chatwoot_app
from fakes.chatwoot.store import ChatwootStore
from fakes.linear import LinearStore, load_schema
from fakes.linear import create_app as create_linear_app
from fakes.linear.datasets import load_github_issues
from fakes.openai.server import serve_in_thread
from gen.connectors.v1 import connectors_pb2 as pb
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.errors import InvalidArgument
from services.common.grpc_client import call_metadata
from services.common.grpc_server import create_server
from services.common.internal_auth import Principal, service_principal
from services.connectors import inventory, repository
from services.connectors.chatwoot.client import ChatwootClient
from services.connectors.chatwoot.sync import ChatwootSync
from services.connectors.grpc_api import ConnectorsServicer
from services.connectors.http import SourceHttp
from services.connectors.id_entries import IdEntry
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings
from tests.connectors import harness
from tests.connectors.conftest import PROJECT

SHARED = Path(__file__).resolve().parents[3] / "shared"
ISSUES_FILE = (
    SHARED / "data" / "real" / "issues" / "inexbug_npm_github_issues_closed.jsonl"
)
CRM_DATA = SHARED / "data" / "real" / "crm"
CHATWOOT_TOKEN = "chatwoot-test-token"
LINEAR_KEY = "lin_api_test_key"
ATTIO_TOKEN = "attio-test-token"
SECRET = "inventory-test-secret-of-32-bytes-or-more"


@pytest.fixture(scope="module")
def linear_schema() -> Any:
    return load_schema(SHARED / "specs" / "linear-schema.graphql")


@pytest.fixture
def chatwoot_store() -> ChatwootStore:
    return ChatwootStore()


@pytest.fixture
def linear_store() -> LinearStore:
    return LinearStore()


@pytest.fixture
def attio_store() -> AttioStore:
    return AttioStore()


@pytest.fixture
def settings(
    chatwoot_store: ChatwootStore,
    linear_store: LinearStore,
    attio_store: AttioStore,
    linear_schema: Any,
) -> Iterator[ConnectorsSettings]:
    """Settings whose three sources are fakes served on loopback ports."""
    chatwoot_app = create_chatwoot_app(
        chatwoot_store, api_token=CHATWOOT_TOKEN, account_id=1
    )
    linear_app = create_linear_app(
        linear_store, api_key=LINEAR_KEY, schema=linear_schema
    )
    attio_app = create_attio_app(attio_store, api_token=ATTIO_TOKEN)
    with (
        serve_in_thread(chatwoot_app) as chatwoot_url,
        serve_in_thread(linear_app) as linear_url,
        serve_in_thread(attio_app) as attio_url,
    ):
        yield ConnectorsSettings.model_validate(
            {
                "CHATWOOT_BASE_URL": chatwoot_url,
                "CHATWOOT_API_TOKEN": CHATWOOT_TOKEN,
                "CHATWOOT_ACCOUNT_ID": 1,
                "LINEAR_API_URL": f"{linear_url}/graphql",
                "LINEAR_API_KEY": LINEAR_KEY,
                "ATTIO_BASE_URL": attio_url,
                "ATTIO_API_TOKEN": ATTIO_TOKEN,
                "INTERNAL_TOKEN_SECRET": SECRET,
                "http_max_attempts": 2,
                "http_backoff_base_seconds": 0.01,
                "http_backoff_max_seconds": 0.05,
            }
        )


async def _sync_linear(pool: asyncpg.Pool, settings: ConnectorsSettings) -> None:
    headers = {"Authorization": LINEAR_KEY}
    async with harness.source_http("linear", headers) as http:
        assert settings.linear_api_url is not None
        await harness.sync(pool, http, settings.linear_api_url, mode="full")


async def _sync_attio(pool: asyncpg.Pool, settings: ConnectorsSettings) -> None:
    headers = {"Authorization": f"Bearer {ATTIO_TOKEN}"}
    async with harness.source_http("attio", headers) as http:
        assert settings.attio_base_url is not None
        await harness.sync(pool, http, settings.attio_base_url, mode="full")


async def _sync_chatwoot(pool: asyncpg.Pool, settings: ConnectorsSettings) -> None:
    async def ignore(counts: dict[str, int]) -> None:
        return None

    assert settings.chatwoot_base_url is not None
    async with httpx.AsyncClient(
        headers={"api_access_token": CHATWOOT_TOKEN}, timeout=10
    ) as client:
        http = SourceHttp(client, "chatwoot", harness.FAST_RETRIES)
        chatwoot = ChatwootClient(http, settings.chatwoot_base_url, 1)
        sync = ChatwootSync(
            pool,
            chatwoot,
            project_id=PROJECT,
            run_id=harness.RUN,
            overlap_seconds=120,
            progress=ignore,
        )
        async with pool.acquire() as conn:
            cursor = await repository.load_cursor(conn, PROJECT, "chatwoot")
        await sync.run("full", cursor, [])


async def _source(
    settings: ConnectorsSettings, connector: str, entity: str
) -> list[list[IdEntry]]:
    return [
        batch
        async for batch in inventory.source_entries(
            settings, PROJECT, connector, entity
        )
    ]


async def _local(
    pool: asyncpg.Pool, connector: str, entity: str, side: str = "raw"
) -> list[list[IdEntry]]:
    return [
        batch
        async for batch in inventory.local_entries(
            pool, PROJECT, connector, entity, side
        )
    ]


def _flat(batches: list[list[IdEntry]]) -> dict[str, IdEntry]:
    entries = [entry for batch in batches for entry in batch]
    by_id = {entry.external_id: entry for entry in entries}
    assert len(by_id) == len(entries), "an id is listed twice"
    return by_id


def _chatwoot_data(store: ChatwootStore) -> dict[str, Any]:
    loud = store.add_contact("Loud", email="Loud.Person@Example.COM")
    quiet = store.add_contact("Quiet")  # no e-mail, phone or identifier
    first = store.add_conversation(loud.id, status="open")
    second = store.add_conversation(quiet.id, status="resolved")
    for n in range(3):
        store.add_message(first.display_id, f"question {n}")
    store.add_message(second.display_id, "thanks")
    return {"loud": loud, "quiet": quiet, "first": first, "second": second}


def _attio_people(store: AttioStore) -> tuple[str, str]:
    company = store.add_record("companies", {"name": "Acme", "domains": ["acme.test"]})
    person = store.add_record(
        "people",
        {
            "name": "Ann Lee",
            "email_addresses": ["Ann.Lee@Acme.TEST"],
            "company": company,
        },
    )
    return company, person


class TestSourceMatchesRawAfterFullSync:
    async def test_linear_issues(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        linear_store: LinearStore,
    ) -> None:
        load_github_issues(linear_store, ISSUES_FILE)
        await _sync_linear(connectors_pool, settings)

        source_batches = await _source(settings, "linear", "issues")
        source = _flat(source_batches)
        local = _flat(await _local(connectors_pool, "linear", "issues"))

        assert len(source) == len(linear_store.issues())
        assert set(source.values()) == set(local.values())
        assert all(
            len(batch) <= inventory.SOURCE_BATCH_SIZE for batch in source_batches
        )
        assert any(entry.archived for entry in local.values())
        assert all(entry.updated_at is not None for entry in local.values())

    @pytest.mark.parametrize("entity", ["companies", "people", "deals"])
    async def test_attio_objects(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        attio_store: AttioStore,
        entity: str,
    ) -> None:
        load_maven_crm(attio_store, CRM_DATA)
        _attio_people(attio_store)
        await _sync_attio(connectors_pool, settings)

        source = _flat(await _source(settings, "attio", entity))
        local = _flat(await _local(connectors_pool, "attio", entity))

        assert len(source) == len(attio_store.records(entity))
        assert set(source.values()) == set(local.values())
        assert all(entry.version for entry in local.values())

    async def test_attio_person_has_emails_and_company(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        attio_store: AttioStore,
    ) -> None:
        company, person = _attio_people(attio_store)
        await _sync_attio(connectors_pool, settings)

        source = _flat(await _source(settings, "attio", "people"))
        local = _flat(await _local(connectors_pool, "attio", "people"))

        assert source[person].emails == ("ann.lee@acme.test",)
        assert source[person].parent == company
        assert local[person] == source[person]

    @pytest.mark.parametrize("entity", ["contacts", "conversations", "messages"])
    async def test_chatwoot_entities(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        chatwoot_store: ChatwootStore,
        entity: str,
    ) -> None:
        _chatwoot_data(chatwoot_store)
        await _sync_chatwoot(connectors_pool, settings)

        source = _flat(await _source(settings, "chatwoot", entity))
        local = _flat(await _local(connectors_pool, "chatwoot", entity))

        assert source
        assert set(source.values()) == set(local.values())

    async def test_chatwoot_fields(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        chatwoot_store: ChatwootStore,
    ) -> None:
        data = _chatwoot_data(chatwoot_store)
        await _sync_chatwoot(connectors_pool, settings)

        contacts = _flat(await _source(settings, "chatwoot", "contacts"))
        conversations = _flat(await _source(settings, "chatwoot", "conversations"))
        messages = _flat(await _source(settings, "chatwoot", "messages"))

        loud, quiet = str(data["loud"].id), str(data["quiet"].id)
        assert contacts[loud].emails == ("loud.person@example.com",)
        assert contacts[loud].version
        # Chatwoot does not list a contact without e-mail, phone or identifier;
        # the sync stores it as a conversation's sender all the same.
        assert contacts[quiet].emails == ()
        first = str(data["first"].display_id)
        assert conversations[first].updated_at is not None
        assert {e.parent for e in messages.values()} == {
            first,
            str(data["second"].display_id),
        }


class TestSourceChangesAfterSync:
    async def test_linear_issue_edit_changes_updated_at(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        linear_store: LinearStore,
    ) -> None:
        team = linear_store.add_team("ENG", "Engineering")
        issue = linear_store.add_issue(team.id, "Login fails").id
        await _sync_linear(connectors_pool, settings)
        before = _flat(await _source(settings, "linear", "issues"))[issue]
        linear_store.update_issue(issue, title="Login fails on Safari")

        source = _flat(await _source(settings, "linear", "issues"))[issue]
        local = _flat(await _local(connectors_pool, "linear", "issues"))[issue]

        assert local == before
        assert source.updated_at != local.updated_at

    async def test_attio_record_edit_changes_version(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        attio_store: AttioStore,
    ) -> None:
        company, _ = _attio_people(attio_store)
        await _sync_attio(connectors_pool, settings)
        attio_store.update_record("companies", company, {"name": "Acme Global"})

        source = _flat(await _source(settings, "attio", "companies"))[company]
        local = _flat(await _local(connectors_pool, "attio", "companies"))[company]

        assert source.version != local.version
        assert source.updated_at is None

    async def test_chatwoot_edits_change_version_and_updated_at(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        chatwoot_store: ChatwootStore,
    ) -> None:
        data = _chatwoot_data(chatwoot_store)
        await _sync_chatwoot(connectors_pool, settings)
        chatwoot_store.update_contact(data["loud"].id, name="Loud Person")
        chatwoot_store.set_status(data["first"].display_id, "resolved")

        loud, first = str(data["loud"].id), str(data["first"].display_id)
        source_contact = _flat(await _source(settings, "chatwoot", "contacts"))[loud]
        local_contact = _flat(await _local(connectors_pool, "chatwoot", "contacts"))[
            loud
        ]
        source_conversation = _flat(
            await _source(settings, "chatwoot", "conversations")
        )[first]
        local_conversation = _flat(
            await _local(connectors_pool, "chatwoot", "conversations")
        )[first]

        assert source_contact.version != local_contact.version
        assert source_conversation.updated_at != local_conversation.updated_at


class TestDeletedInSource:
    async def test_linear_issue_flagged_deleted(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        linear_store: LinearStore,
    ) -> None:
        team = linear_store.add_team("ENG", "Engineering")
        keep = linear_store.add_issue(team.id, "Keep").id
        removed = linear_store.add_issue(team.id, "Gone").id
        await _sync_linear(connectors_pool, settings)
        linear_store.delete_issue(removed)
        await _sync_linear(connectors_pool, settings)

        source = _flat(await _source(settings, "linear", "issues"))
        local = _flat(await _local(connectors_pool, "linear", "issues"))

        assert set(source) == {keep}
        assert local[removed].deleted
        assert not local[keep].deleted

    async def test_attio_deal_flagged_deleted_in_raw_and_mirror(
        self,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        attio_store: AttioStore,
    ) -> None:
        company, _ = _attio_people(attio_store)
        removed = attio_store.add_record(
            "deals", {"name": "Gone", "stage": "Lead", "associated_company": company}
        )
        await _sync_attio(connectors_pool, settings)
        attio_store.delete_record("deals", removed)
        await _sync_attio(connectors_pool, settings)

        source = _flat(await _source(settings, "attio", "deals"))
        raw = _flat(await _local(connectors_pool, "attio", "deals"))
        mirror = _flat(await _local(connectors_pool, "attio", "deals", "mirror"))

        assert removed not in source
        assert raw[removed].deleted
        assert mirror[removed].deleted


async def test_mirror_lists_companies_and_deals_with_parent(
    connectors_pool: asyncpg.Pool, settings: ConnectorsSettings, attio_store: AttioStore
) -> None:
    company, _ = _attio_people(attio_store)
    deal = attio_store.add_record(
        "deals", {"name": "Renewal", "stage": "Lead", "associated_company": company}
    )
    loose = attio_store.add_record("deals", {"name": "Loose", "stage": "Lead"})
    await _sync_attio(connectors_pool, settings)

    companies = _flat(await _local(connectors_pool, "attio", "companies", "mirror"))
    deals = _flat(await _local(connectors_pool, "attio", "deals", "mirror"))
    raw_deals = _flat(await _local(connectors_pool, "attio", "deals"))

    assert set(companies) == {company}
    assert companies[company].version
    assert deals[deal].parent == company
    assert deals[loose].parent == ""
    assert set(deals.values()) == set(raw_deals.values())


async def test_local_entries_page_past_one_batch(connectors_pool: asyncpg.Pool) -> None:
    count = inventory.LOCAL_BATCH_SIZE * 2 + 1
    ids = [f"{n:06d}" for n in range(count)]
    async with connectors_pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO connectors.cw_messages (project_id, external_id,"
            " conversation_external_id, message_id, message_type, raw)"
            " SELECT $1, k, '7', k::bigint, 0, '{}'::jsonb FROM unnest($2::text[]) k",
            uuid.UUID(PROJECT),
            ids,
        )

    batches = await _local(connectors_pool, "chatwoot", "messages")

    assert [len(b) for b in batches] == [5000, 5000, 1]
    assert [e.external_id for b in batches for e in b] == ids
    assert all(not e.deleted and e.parent == "7" for b in batches for e in b)


@pytest.mark.parametrize(
    ("connector", "entity", "side"),
    [
        ("chatwoot", "tickets", "raw"),
        ("linear", "cycles", "raw"),
        ("attio", "people", "mirror"),
        ("chatwoot", "contacts", "mirror"),
    ],
)
async def test_invalid_request_is_rejected(
    connectors_pool: asyncpg.Pool, connector: str, entity: str, side: str
) -> None:
    with pytest.raises(InvalidArgument):
        await _local(connectors_pool, connector, entity, side)


@pytest.fixture
async def stub(
    connectors_pool: asyncpg.Pool, settings: ConnectorsSettings
) -> AsyncIterator[connectors_pb2_grpc.ConnectorsServiceStub]:
    """A client of the real servicer on a grpc.aio server on a loopback port."""
    server = create_server(SECRET, 4 * 1024 * 1024)
    runner = SyncRunner(connectors_pool, lease_seconds=60, heartbeat_seconds=10)
    servicer = ConnectorsServicer(connectors_pool, runner, settings)
    connectors_pb2_grpc.add_ConnectorsServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield connectors_pb2_grpc.ConnectorsServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(None)


def _metadata(principal: Principal | None = None) -> Any:
    return call_metadata(principal or service_principal("reconcile", PROJECT), SECRET)


async def _call(method: Any, request: pb.ListIdsRequest, metadata: Any) -> list[Any]:
    return [batch async for batch in method(request, metadata=metadata)]


class TestGrpc:
    async def test_source_and_local_ids_are_streamed(
        self,
        stub: connectors_pb2_grpc.ConnectorsServiceStub,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        attio_store: AttioStore,
    ) -> None:
        company, person = _attio_people(attio_store)
        await _sync_attio(connectors_pool, settings)
        request = pb.ListIdsRequest(connector="attio", entity="people")

        source = await _call(stub.ListSourceIds, request, _metadata())
        local = await _call(stub.ListLocalIds, request, _metadata())

        assert [e.external_id for b in source for e in b.entries] == [person]
        assert [e.external_id for b in local for e in b.entries] == [person]
        entry = local[0].entries[0]
        assert list(entry.emails) == ["ann.lee@acme.test"]
        assert entry.parent == company
        assert entry.version == source[0].entries[0].version
        assert not entry.HasField("updated_at")

    async def test_updated_at_travels_as_timestamp(
        self,
        stub: connectors_pb2_grpc.ConnectorsServiceStub,
        connectors_pool: asyncpg.Pool,
        settings: ConnectorsSettings,
        chatwoot_store: ChatwootStore,
    ) -> None:
        data = _chatwoot_data(chatwoot_store)
        await _sync_chatwoot(connectors_pool, settings)
        request = pb.ListIdsRequest(connector="chatwoot", entity="conversations")

        source = await _call(stub.ListSourceIds, request, _metadata())
        local = await _call(stub.ListLocalIds, request, _metadata())

        by_id = {e.external_id: e for b in local for e in b.entries}
        first = by_id[str(data["first"].display_id)]
        assert first.HasField("updated_at")
        assert sorted(e.SerializeToString() for b in source for e in b.entries) == (
            sorted(e.SerializeToString() for e in by_id.values())
        )

    @pytest.mark.parametrize(
        ("request_", "code"),
        [
            (
                pb.ListIdsRequest(connector="chatwoot", entity="tickets"),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                pb.ListIdsRequest(
                    connector="linear", entity="issues", side=pb.ID_SIDE_MIRROR
                ),
                grpc.StatusCode.INVALID_ARGUMENT,
            ),
            (
                pb.ListIdsRequest(connector="jira", entity="issues"),
                grpc.StatusCode.NOT_FOUND,
            ),
        ],
    )
    async def test_bad_request_gets_its_status(
        self,
        stub: connectors_pb2_grpc.ConnectorsServiceStub,
        request_: pb.ListIdsRequest,
        code: grpc.StatusCode,
    ) -> None:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _call(stub.ListLocalIds, request_, _metadata())

        assert raised.value.code() == code

    async def test_source_ids_reject_unknown_entity(
        self, stub: connectors_pb2_grpc.ConnectorsServiceStub
    ) -> None:
        request = pb.ListIdsRequest(connector="attio", entity="tasks")

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _call(stub.ListSourceIds, request, _metadata())

        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "tasks" in (raised.value.details() or "")

    async def test_call_without_token_is_unauthenticated(
        self, stub: connectors_pb2_grpc.ConnectorsServiceStub
    ) -> None:
        request = pb.ListIdsRequest(connector="attio", entity="people")

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _call(stub.ListLocalIds, request, None)

        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED

    async def test_call_without_project_fails_precondition(
        self, stub: connectors_pb2_grpc.ConnectorsServiceStub
    ) -> None:
        request = pb.ListIdsRequest(connector="attio", entity="people")
        principal = service_principal("reconcile")

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _call(stub.ListLocalIds, request, _metadata(principal))

        assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    async def test_user_without_role_is_denied(
        self, stub: connectors_pb2_grpc.ConnectorsServiceStub
    ) -> None:
        request = pb.ListIdsRequest(connector="attio", entity="people")
        stranger = Principal(subject="u1", kind="user", project_id=PROJECT)

        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await _call(stub.ListLocalIds, request, _metadata(stranger))

        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
