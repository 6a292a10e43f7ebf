"""Calls from the reconcile service to the connectors service."""

from collections.abc import AsyncIterator

import grpc

from gen.connectors.v1 import connectors_pb2 as pb
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.grpc_client import call_metadata
from services.common.internal_auth import Principal

MODES = {"targeted": pb.SYNC_MODE_TARGETED, "full": pb.SYNC_MODE_FULL}


class ConnectorsClient:
    """Lists ids of each side and starts the syncs a repair needs."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        secret: str,
        *,
        rpc_timeout: float,
        list_timeout: float,
    ) -> None:
        self._stub = connectors_pb2_grpc.ConnectorsServiceStub(channel)
        self._secret = secret
        self._rpc_timeout = rpc_timeout
        self._list_timeout = list_timeout

    def source_ids(
        self, caller: Principal, connector: str, entity: str
    ) -> AsyncIterator[pb.IdBatch]:
        """Stream the ids the source system lists now."""
        request = pb.ListIdsRequest(connector=connector, entity=entity)
        return self._stub.ListSourceIds(  # type: ignore[no-any-return]
            request,
            metadata=call_metadata(caller, self._secret),
            timeout=self._list_timeout,
        )

    def local_ids(
        self, caller: Principal, connector: str, entity: str, side: pb.IdSide
    ) -> AsyncIterator[pb.IdBatch]:
        """Stream the ids of the raw table or the CRM mirror."""
        request = pb.ListIdsRequest(connector=connector, entity=entity, side=side)
        return self._stub.ListLocalIds(  # type: ignore[no-any-return]
            request,
            metadata=call_metadata(caller, self._secret),
            timeout=self._list_timeout,
        )

    async def start_sync(
        self, caller: Principal, connector: str, mode: str, external_ids: list[str]
    ) -> pb.SyncRun:
        request = pb.StartSyncRequest(
            connector=connector, mode=MODES[mode], external_ids=external_ids
        )
        response: pb.SyncRun = await self._stub.StartSync(
            request,
            metadata=call_metadata(caller, self._secret),
            timeout=self._rpc_timeout,
        )
        return response

    async def get_run(self, caller: Principal, run_id: str) -> pb.SyncRun:
        response: pb.SyncRun = await self._stub.GetSyncRun(
            pb.GetSyncRunRequest(run_id=run_id),
            metadata=call_metadata(caller, self._secret),
            timeout=self._rpc_timeout,
        )
        return response
