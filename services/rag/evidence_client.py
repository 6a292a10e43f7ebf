"""Asks the connectors service for the current state of the sources a query cites."""

from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from gen.connectors.v1 import connectors_pb2 as pb
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.grpc_client import call_metadata
from services.common.internal_auth import Principal, service_principal

# The connectors service rejects a GetDocuments call with more refs than this.
MAX_REFS_PER_CALL = 100

SourceKey = tuple[str, str]


@dataclass(frozen=True)
class SourceState:
    """A source record as the connectors service stores it now."""

    found: bool
    deleted: bool
    title: str
    url: str


class SourceCheckFailed(Exception):
    """A GetDocuments call failed or passed its deadline."""

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"GetDocuments failed with {code}: {details}")
        self.code = code
        self.details = details


class EvidenceClient:
    """Calls GetDocuments on behalf of one caller's project, with a short deadline."""

    def __init__(
        self, channel: grpc.aio.Channel, token_secret: str, timeout_seconds: float
    ) -> None:
        self._stub = connectors_pb2_grpc.ConnectorsServiceStub(channel)
        self._secret = token_secret
        self._timeout = timeout_seconds

    async def get_states(
        self, caller: Principal, keys: Sequence[SourceKey]
    ) -> dict[SourceKey, SourceState]:
        """Return the state of each (source_type, external_id) in one call.

        Raises SourceCheckFailed when the call fails or its deadline passes.
        """
        principal = service_principal("rag", caller.project_id, caller.request_id)
        request = pb.GetDocumentsRequest(
            refs=[
                pb.DocumentRef(source_type=source_type, source_id=source_id)
                for source_type, source_id in keys
            ]
        )
        try:
            response = await self._stub.GetDocuments(
                request,
                metadata=call_metadata(principal, self._secret),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as exc:
            raise SourceCheckFailed(exc.code().name, exc.details() or "") from exc
        return {
            (document.source_type, document.source_id): SourceState(
                found=document.found,
                deleted=document.deleted,
                title=document.title,
                url=document.url,
            )
            for document in response.documents
        }
