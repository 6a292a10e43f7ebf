"""gRPC servicer of the connectors service: proto in, domain call, proto out."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import grpc

from gen.connectors.v1 import connectors_pb2 as pb
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.internal_auth import current_principal
from services.common.protos import timestamp
from services.connectors import (
    crm,
    evidence,
    failures,
    feed,
    inventory,
    lookup,
    repository,
    sources,
)
from services.connectors import external_ids as external_ids_
from services.connectors.errors import ConnectorErrorNotFound, InvalidSyncRequest
from services.connectors.id_entries import IdEntry
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings

MODE_NAMES = {pb.SYNC_MODE_INCREMENTAL: "incremental", pb.SYNC_MODE_FULL: "full"}
MODE_VALUES = {
    "incremental": pb.SYNC_MODE_INCREMENTAL,
    "full": pb.SYNC_MODE_FULL,
    "targeted": pb.SYNC_MODE_TARGETED,
    "retry": pb.SYNC_MODE_RETRY,
}
MAX_LIST_PAGE = 500
MAX_FEED_PAGE = 500


def run_to_proto(run: repository.SyncRun) -> pb.SyncRun:
    return pb.SyncRun(
        id=run.id,
        connector=run.connector,
        project_id=run.project_id,
        status=run.status,
        mode=MODE_VALUES.get(run.mode, pb.SYNC_MODE_UNSPECIFIED),
        started_at=timestamp(run.started_at),
        finished_at=timestamp(run.finished_at),
        heartbeat_at=timestamp(run.heartbeat_at),
        lease_expires_at=timestamp(run.lease_expires_at),
        counts=run.counts,
        error=run.error or "",
        already_running=run.already_running,
        lease_holder=run.lease_holder,
    )


class ConnectorsServicer(connectors_pb2_grpc.ConnectorsServiceServicer):
    def __init__(
        self, pool: asyncpg.Pool, runner: SyncRunner, settings: ConnectorsSettings
    ) -> None:
        self._pool = pool
        self._runner = runner
        self._settings = settings
        self.bodies = sources.SyncBodies(pool, settings)
        # Creates a project's scheduled jobs the first time it syncs.
        self.ensure_project: Callable[[str], Awaitable[None]] | None = None

    async def StartSync(
        self, request: pb.StartSyncRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SyncRun:
        """Start a sync of the caller's project, or return the one in progress."""
        principal = current_principal()
        project_id = principal.require_project()
        principal.require_role("member")
        connector = sources.require_known(request.connector)
        external_ids = [external_ids_.check(connector, k) for k in request.external_ids]
        mode = (
            "targeted" if external_ids else MODE_NAMES.get(request.mode, "incremental")
        )
        body = self.bodies.for_connector(connector)
        if self.ensure_project is not None:
            await self.ensure_project(project_id)
        run = await self._runner.start(project_id, connector, mode, external_ids, body)
        return run_to_proto(run)

    async def GetSyncRun(
        self, request: pb.GetSyncRunRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SyncRun:
        """Return one sync run of the caller's project."""
        project_id = current_principal().require_project()
        return run_to_proto(await self._runner.get(project_id, request.run_id))

    async def ListConnectorStates(
        self,
        request: pb.ListConnectorStatesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.ListConnectorStatesResponse:
        """Return the state of every known connector of the caller's project."""
        project_id = current_principal().require_project()
        async with self._pool.acquire() as conn:
            await repository.expire_stale_runs(conn, project_id)
            states = await repository.list_states(conn, project_id)
        now = datetime.now(UTC)
        return pb.ListConnectorStatesResponse(
            states=[
                _state_to_proto(
                    name,
                    states.get(name),
                    now,
                    sources.is_configured(self._settings, name),
                )
                for name in sources.KNOWN_CONNECTORS
            ]
        )

    async def ReadChanges(
        self,
        request: pb.ReadChangesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.ReadChangesResponse:
        """Return documents changed after a feed number, oldest change first."""
        project_id = current_principal().require_project()
        limit = min(max(request.limit or 100, 1), MAX_FEED_PAGE)
        async with self._pool.acquire() as conn:
            documents = await feed.read_changes(
                conn,
                project_id,
                request.after_sequence,
                limit + 1,
                self._settings.chatwoot_base_url or "",
            )
        has_more = len(documents) > limit
        documents = documents[:limit]
        next_sequence = documents[-1].sequence if documents else request.after_sequence
        return pb.ReadChangesResponse(
            documents=[_document_to_proto(doc) for doc in documents],
            next_sequence=next_sequence,
            has_more=has_more,
        )

    async def ListConnectorErrors(
        self,
        request: pb.ListConnectorErrorsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.ListConnectorErrorsResponse:
        """Return the project's connector errors, newest first."""
        project_id = current_principal().require_project()
        if request.connector:
            sources.require_known(request.connector)
        if request.status and request.status not in failures.STATUSES:
            raise InvalidSyncRequest(
                f"unknown status {request.status!r}; use {', '.join(failures.STATUSES)}"
            )
        async with self._pool.acquire() as conn:
            found = await failures.list_errors(
                conn,
                project_id,
                connector=request.connector or None,
                status=request.status or None,
                limit=min(max(request.limit or 100, 1), MAX_LIST_PAGE),
                before_id=request.before_id or None,
            )
        return pb.ListConnectorErrorsResponse(
            errors=[_error_to_proto(f) for f in found]
        )

    async def RetryConnectorErrors(
        self,
        request: pb.RetryConnectorErrorsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.RetryConnectorErrorsResponse:
        """Make waiting errors due now and start a retry run per connector."""
        principal = current_principal()
        project_id = principal.require_project()
        principal.require_role("admin")
        if request.connector:
            sources.require_known(request.connector)
        async with self._pool.acquire() as conn:
            queued = await failures.make_due(
                conn, project_id, request.connector or None
            )
            waiting = await failures.waiting_connectors(conn, project_id)
            dead = await failures.count_dead_letters(
                conn, project_id, request.connector or None
            )
        runs = []
        for name in waiting:
            wanted = request.connector in ("", name)
            if wanted and sources.is_configured(self._settings, name):
                runs.append(await self.start_retry(project_id, name))
        return pb.RetryConnectorErrorsResponse(
            queued=queued, runs=[run_to_proto(run) for run in runs], dead_letters=dead
        )

    async def RequeueConnectorError(
        self,
        request: pb.RequeueConnectorErrorRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.RequeueConnectorErrorResponse:
        """Put one open error back in the queue, due now, and start its retry."""
        principal = current_principal()
        project_id = principal.require_project()
        principal.require_role("admin")
        async with self._pool.acquire() as conn:
            failure = await failures.requeue(conn, project_id, request.id)
        if failure is None:
            raise ConnectorErrorNotFound(
                f"no open connector error {request.id} in this project"
            )
        run = await self.start_retry(project_id, failure.connector)
        return pb.RequeueConnectorErrorResponse(
            error=_error_to_proto(failure), run=run_to_proto(run)
        )

    async def start_retry(self, project_id: str, connector: str) -> repository.SyncRun:
        """Start a retry run, or return the run of the connector in progress."""
        body = self.bodies.for_connector(connector)
        return await self._runner.start(project_id, connector, "retry", [], body)

    async def GetSourceRecord(
        self,
        request: pb.GetSourceRecordRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.SourceRecord:
        """Return a record's raw row and its CRM mirror row."""
        project_id = current_principal().require_project()
        connector = sources.require_known(request.connector)
        external_id = external_ids_.check(connector, request.external_id)
        async with self._pool.acquire() as conn:
            found = await lookup.find_record(conn, project_id, connector, external_id)
        return pb.SourceRecord(
            connector=connector,
            external_id=request.external_id,
            table=found.table,
            raw_json=json.dumps(found.raw, default=str) if found.raw else "",
            mirror_json=json.dumps(found.mirror, default=str) if found.mirror else "",
        )

    async def GetDocuments(
        self,
        request: pb.GetDocumentsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> pb.GetDocumentsResponse:
        """Return the current state of each referenced document of the project."""
        principal = current_principal()
        project_id = principal.require_project()
        principal.require_role("viewer")
        refs = [evidence.DocumentRef(r.source_type, r.source_id) for r in request.refs]
        async with self._pool.acquire() as conn:
            states = await evidence.load_states(
                conn, project_id, refs, self._settings.chatwoot_base_url or ""
            )
        return pb.GetDocumentsResponse(
            documents=[
                pb.DocumentState(
                    source_type=state.ref.source_type,
                    source_id=state.ref.source_id,
                    found=state.found,
                    deleted=state.deleted,
                    title=state.title,
                    url=state.url,
                    source_updated_at=timestamp(state.source_updated_at),
                )
                for state in states
            ]
        )

    async def ListCrmAccounts(
        self, request: pb.ListCrmRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListCrmAccountsResponse:
        """Return the project's mirrored accounts."""
        project_id = current_principal().require_project()
        limit, offset = _window(request)
        async with self._pool.acquire() as conn:
            rows = await crm.list_accounts(conn, project_id, limit=limit, offset=offset)
            unmapped = await crm.unmapped_deals(conn, project_id)
        return pb.ListCrmAccountsResponse(
            accounts=[
                pb.CrmAccount(
                    id=row["id"],
                    source_system=row["source_system"],
                    external_ref=row["external_ref"],
                    name=row["name"],
                    domain=row["domain"] or "",
                    deleted=row["deleted_at"] is not None,
                    updated_at=timestamp(row["updated_at"]),
                )
                for row in rows
            ],
            unmapped_deals=unmapped,
        )

    async def ListCrmOpportunities(
        self, request: pb.ListCrmRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListCrmOpportunitiesResponse:
        """Return the project's mirrored deals with their accounts."""
        project_id = current_principal().require_project()
        limit, offset = _window(request)
        async with self._pool.acquire() as conn:
            rows = await crm.list_opportunities(
                conn, project_id, limit=limit, offset=offset
            )
            unmapped = await crm.unmapped_deals(conn, project_id)
        return pb.ListCrmOpportunitiesResponse(
            opportunities=[_opportunity_to_proto(row) for row in rows],
            unmapped_deals=unmapped,
        )

    async def ListSourceIds(
        self, request: pb.ListIdsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.IdBatch]:
        """Stream every id of one entity as the source system lists it now."""
        project_id = _viewer_project()
        batches = inventory.source_entries(
            self._settings, project_id, request.connector, request.entity
        )
        async with contextlib.aclosing(batches):
            async for batch in batches:
                yield _id_batch_to_proto(batch)

    async def ListLocalIds(
        self, request: pb.ListIdsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.IdBatch]:
        """Stream every id of one entity from the raw table or the CRM mirror."""
        project_id = _viewer_project()
        side = "mirror" if request.side == pb.ID_SIDE_MIRROR else "raw"
        batches = inventory.local_entries(
            self._pool, project_id, request.connector, request.entity, side
        )
        async with contextlib.aclosing(batches):
            async for batch in batches:
                yield _id_batch_to_proto(batch)


def _window(request: pb.ListCrmRequest) -> tuple[int, int]:
    if request.limit < 0 or request.offset < 0:
        raise InvalidSyncRequest("limit and offset must not be negative")
    return min(request.limit or 100, MAX_LIST_PAGE), request.offset


def _opportunity_to_proto(row: dict[str, Any]) -> pb.CrmOpportunity:
    return pb.CrmOpportunity(
        id=row["id"],
        source_system=row["source_system"],
        external_ref=row["external_ref"],
        account_id=row["account_id"] or 0,
        account_external_ref=row["account_external_ref"] or "",
        account_name=row["account_name"] or "",
        name=row["name"],
        stage=row["stage"] or "",
        amount=str(row["amount"]) if row["amount"] is not None else "",
        currency=row["currency"] or "",
        owner_ref=row["owner_ref"] or "",
        deleted=row["deleted_at"] is not None,
        updated_at=timestamp(row["updated_at"]),
    )


def _error_to_proto(failure: failures.ConnectorFailure) -> pb.ConnectorError:
    return pb.ConnectorError(
        id=failure.id,
        connector=failure.connector,
        entity=failure.entity,
        target=failure.target,
        position_json=json.dumps(failure.position),
        kind=failure.kind,
        status=failure.status,
        message=failure.message,
        attempts=failure.attempts,
        next_retry_at=timestamp(failure.next_retry_at),
        run_id=failure.run_id or "",
        created_at=timestamp(failure.created_at),
        updated_at=timestamp(failure.updated_at),
        resolved_at=timestamp(failure.resolved_at),
    )


def _state_to_proto(
    name: str, state: repository.ConnectorState | None, now: datetime, configured: bool
) -> pb.ConnectorState:
    if state is None:
        return pb.ConnectorState(
            connector=name,
            status="idle",
            cursor_json="{}",
            lag_seconds=-1,
            configured=configured,
        )
    running = state.running
    status = (
        "running"
        if running
        else ("failed" if state.last_error and state.retry_count else "idle")
    )
    lag = (now - state.last_success_at).total_seconds() if state.last_success_at else -1
    return pb.ConnectorState(
        connector=name,
        status=status,
        cursor_json=json.dumps(state.cursor),
        lag_seconds=lag,
        lease_holder=running.lease_holder if running else "",
        lease_expires_at=timestamp(running.lease_expires_at) if running else None,
        last_success_at=timestamp(state.last_success_at),
        last_error=state.last_error or "",
        last_error_at=timestamp(state.last_error_at),
        retry_count=state.retry_count,
        last_run_id=running.id if running else (state.last_run_id or ""),
        configured=configured,
    )


def _document_to_proto(document: feed.FeedDocument) -> pb.Document:
    return pb.Document(
        source_type=document.source_type,
        external_id=document.external_id,
        title=document.title,
        url=document.url,
        updated_at=timestamp(document.updated_at),
        deleted=document.deleted,
        sequence=document.sequence,
        metadata=document.metadata,
        sections=[
            pb.Section(
                section_id=s["section_id"],
                author_role=s["author_role"],
                author_name=s["author_name"],
                text=s["text"],
                created_at=timestamp(s["created_at"]),
            )
            for s in document.sections
        ],
    )


def _viewer_project() -> str:
    principal = current_principal()
    project_id = principal.require_project()
    principal.require_role("viewer")
    return project_id


def _id_batch_to_proto(batch: list[IdEntry]) -> pb.IdBatch:
    return pb.IdBatch(
        entries=[
            pb.IdEntry(
                external_id=entry.external_id,
                version=entry.version,
                updated_at=timestamp(entry.updated_at),
                emails=entry.emails,
                parent=entry.parent,
                archived=entry.archived,
                deleted=entry.deleted,
            )
            for entry in batch
        ]
    )
