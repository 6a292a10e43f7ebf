"""Loading the ids of each side into the run's scratch table with COPY."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC

from gen.connectors.v1 import connectors_pb2 as connectors_pb
from services.common.database import Connection

COLUMNS = (
    "run_id",
    "project_id",
    "entity",
    "side",
    "external_id",
    "version",
    "updated_at",
    "emails",
    "parent",
    "archived",
    "deleted",
)


async def load(
    conn: Connection,
    *,
    run_id: int,
    project_id: str,
    entity: str,
    side: int,
    batches: AsyncIterator[connectors_pb.IdBatch],
) -> int:
    """Copy every streamed id into id_snapshots; return how many arrived."""
    project = uuid.UUID(project_id)
    total = 0
    async for batch in batches:
        rows = [
            (
                run_id,
                project,
                entity,
                side,
                entry.external_id,
                entry.version,
                entry.updated_at.ToDatetime(tzinfo=UTC)
                if entry.HasField("updated_at")
                else None,
                list(entry.emails),
                entry.parent,
                entry.archived,
                entry.deleted,
            )
            for entry in batch.entries
        ]
        await conn.copy_records_to_table(
            "id_snapshots", schema_name="reconcile", records=rows, columns=COLUMNS
        )
        total += len(rows)
    return total
