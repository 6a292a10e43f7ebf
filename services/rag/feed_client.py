"""Reads the connectors service's change feed as domain documents."""

from collections.abc import AsyncIterator
from datetime import UTC

import grpc

from gen.connectors.v1 import connectors_pb2 as pb
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.grpc_client import call_metadata
from services.common.internal_auth import Principal, service_principal
from services.rag.documents import DocumentSection, SourceDocument


class FeedClient:
    """Pages through ReadChanges on behalf of one caller's project."""

    def __init__(
        self, channel: grpc.aio.Channel, token_secret: str, timeout_seconds: float
    ) -> None:
        self._stub = connectors_pb2_grpc.ConnectorsServiceStub(channel)
        self._secret = token_secret
        self._timeout = timeout_seconds

    async def iter_pages(
        self, caller: Principal, after_sequence: int, page_size: int
    ) -> AsyncIterator[tuple[list[SourceDocument], int]]:
        """Yield (documents, last sequence of the page) until the feed is read fully."""
        principal = service_principal("rag", caller.project_id, caller.request_id)
        while True:
            response = await self._stub.ReadChanges(
                pb.ReadChangesRequest(after_sequence=after_sequence, limit=page_size),
                metadata=call_metadata(principal, self._secret),
                timeout=self._timeout,
            )
            documents = [to_domain(caller.project_id, d) for d in response.documents]
            if documents:
                yield documents, response.next_sequence
            after_sequence = response.next_sequence
            if not response.has_more:
                return


def to_domain(project_id: str, document: pb.Document) -> SourceDocument:
    """Convert a feed document from its proto form."""
    return SourceDocument(
        project_id=project_id,
        source_type=document.source_type,
        external_id=document.external_id,
        title=document.title,
        url=document.url,
        updated_at=document.updated_at.ToDatetime(tzinfo=UTC),
        deleted=document.deleted,
        sections=tuple(
            DocumentSection(
                author_role=s.author_role,
                author_name=s.author_name,
                text=s.text,
                created_at=s.created_at.ToDatetime(tzinfo=UTC)
                if s.HasField("created_at")
                else None,
                section_id=s.section_id,
            )
            for s in document.sections
        ),
        metadata=dict(document.metadata),
    )
