"""Reconciliation of one entity with a million ids on each side.

The raw table and the CRM mirror of Attio deals are filled with COPY. The
source listing is generated in this process, as the connectors service would
stream it from the API, because no fake serves a million records quickly.
The local sides stream from the real connectors servicer over loopback gRPC
into the real reconcile code, which compares them in Postgres. Planted
differences: 1,000 missing in raw, 1,000 orphans, 1,000 stale and 500 deals
without their mirror row. Run with

    .venv/bin/python -m bench.reconcile_million [--ids 1000000] [--repeat 3]

It prints the seconds of the whole run and of the comparison alone, ids per
second, and the growth of this process's peak memory during the run (the
connectors and reconcile code both run here).
"""

import argparse
import asyncio
import resource
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg

from bench.results import Figure, Section
from bench.scratch import drop_scratch_databases, fresh_database
from gen.connectors.v1 import connectors_pb2 as connectors_pb
from gen.connectors.v1 import connectors_pb2_grpc
from services.common.database import start_embedded_postgres, stop_embedded_postgres
from services.common.grpc_client import create_channel
from services.common.grpc_server import create_server
from services.common.internal_auth import Principal
from services.connectors.grpc_api import ConnectorsServicer
from services.connectors.runs import SyncRunner
from services.connectors.settings import ConnectorsSettings
from services.reconcile import compare
from services.reconcile.main import build_reconciler
from services.reconcile.repository import MetricsRow
from services.reconcile.runs import Reconciler
from services.reconcile.settings import ReconcileSettings

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-of-enough-length-for-hs256"
PROJECT = "00000000-0000-0000-0000-00000000be01"
BATCH = 1_000
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
DATA_DIR = REPO / "var" / "bench"
MIRROR_COLUMNS = ("project_id", "source_system", "external_ref", "name", "source_hash")
PLANTED = {"missing": 1_000, "orphans": 1_000, "stale": 1_000, "unmirrored": 500}


def _deal_id(n: int) -> str:
    """Return a record id shaped like Attio's UUIDs, cheaply."""
    return f"00000000-0000-4000-8000-{n + 1:012x}"


def _version(n: int, stale: bool) -> str:
    return f"{'new' if stale else 'v'}{n:x}"


async def _seed(dsn: str, ids: int) -> None:
    """Fill the raw table and the mirror; the last ids are orphans."""
    project = uuid.UUID(PROJECT)
    local = range(PLANTED["missing"], ids + PLANTED["orphans"])
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "attio_opportunities_raw",
            schema_name="connectors",
            columns=("project_id", "external_id", "name", "content_hash", "raw"),
            records=(
                (project, _deal_id(n), "", _version(n, False), "{}") for n in local
            ),
        )
        mirrored = (n for n in local if n >= PLANTED["missing"] + PLANTED["unmirrored"])
        await conn.copy_records_to_table(
            "crm_opportunities",
            schema_name="connectors",
            columns=(
                "project_id",
                "source_system",
                "external_ref",
                "name",
                "source_hash",
            ),
            records=(
                (project, "attio", _deal_id(n), "", _version(n, False))
                for n in mirrored
            ),
        )
        # Settle the seed first, so that its vacuum and checkpoint do not run
        # during the measured reconciliation.
        await conn.execute("VACUUM ANALYZE connectors.attio_opportunities_raw")
        await conn.execute("VACUUM ANALYZE connectors.crm_opportunities")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _source_batches(ids: int) -> AsyncIterator[connectors_pb.IdBatch]:
    """Yield the source listing: ids 0..ids-1, the last ones changed after the sync."""
    stale_from = ids - PLANTED["stale"]
    for start in range(0, ids, BATCH):
        entries = [
            connectors_pb.IdEntry(
                external_id=_deal_id(n), version=_version(n, n >= stale_from)
            )
            for n in range(start, min(ids, start + BATCH))
        ]
        yield connectors_pb.IdBatch(entries=entries)
        await asyncio.sleep(0)


class _Timed:
    """Measures the comparison step inside the reconcile run."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._compare = compare.compare

    async def __call__(self, *args: object, **kwargs: object) -> compare.EntityFigures:
        started = time.perf_counter()
        try:
            return await self._compare(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            self.seconds += time.perf_counter() - started


async def _serve_connectors(stack: AsyncExitStack, pool: asyncpg.Pool) -> str:
    """Serve the real connectors servicer on loopback; return its address."""
    runner = SyncRunner(pool, lease_seconds=30, heartbeat_seconds=10)
    server = create_server(SECRET, MAX_MESSAGE_BYTES)
    settings = ConnectorsSettings.model_validate({"INTERNAL_TOKEN_SECRET": SECRET})
    connectors_pb2_grpc.add_ConnectorsServiceServicer_to_server(
        ConnectorsServicer(pool, runner, settings), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stack.push_async_callback(server.stop, None)
    return f"127.0.0.1:{port}"


async def _reconciler(
    stack: AsyncExitStack, pool: asyncpg.Pool, ids: int
) -> Reconciler:
    """Build the reconcile code over the connectors servicer and a made-up source."""
    channel = create_channel(await _serve_connectors(stack, pool), MAX_MESSAGE_BYTES)
    # No auth service runs here, so the audit call fails fast and is only logged.
    nowhere = create_channel("127.0.0.1:9", MAX_MESSAGE_BYTES)
    stack.push_async_callback(channel.close)
    stack.push_async_callback(nowhere.close)
    settings = ReconcileSettings.model_validate(
        {"INTERNAL_TOKEN_SECRET": SECRET, "rpc_timeout_seconds": 0.2}
    )
    reconciler = build_reconciler(pool, settings, channel, nowhere)
    reconciler._connectors.source_ids = (  # type: ignore[method-assign]
        lambda caller, connector, entity: _source_batches(
            ids if entity == "deals" else 0
        )
    )
    return reconciler


def _check(deals: MetricsRow) -> None:
    expected = (
        PLANTED["missing"],
        PLANTED["orphans"],
        PLANTED["stale"],
        PLANTED["unmirrored"],
    )
    found = (deals.missing_in_raw, deals.orphans, deals.stale, deals.missing_in_mirror)
    if found != expected:
        raise SystemExit(f"wrong figures: {deals}")


async def _one_run(server: str, ids: int) -> dict[str, float]:
    dsn = await fresh_database(server, ("connectors", "reconcile"))
    await _seed(dsn, ids)
    caller = Principal(subject="bench", kind="user", role="admin", project_id=PROJECT)
    timed = _Timed()
    async with AsyncExitStack() as stack:
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=6)
        stack.push_async_callback(pool.close)
        reconciler = await _reconciler(stack, pool, ids)

        compare.compare = timed
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        try:
            outcome = await reconciler.run(caller, ["attio"], repair=False)
        finally:
            compare.compare = timed._compare
        seconds = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    _check(next(row for row in outcome.entities if row.entity == "deals"))
    return {
        "seconds": seconds,
        "compare_seconds": timed.seconds,
        "rss_growth_mb": (rss_after - rss_before) / 1024,
    }


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


async def main(ids: int, repeat: int) -> None:
    server = start_embedded_postgres(DATA_DIR)
    try:
        runs = [await _one_run(server, ids) for _ in range(repeat)]
    finally:
        await drop_scratch_databases(server)
        stop_embedded_postgres(DATA_DIR)
    seconds = [run["seconds"] for run in runs]
    _print(f"ids per side: {ids:,}; sides: source, raw, mirror; runs: {repeat}")
    _print(f"whole run, s: {_spread(seconds)}")
    _print(f"comparison alone, s: {_spread([run['compare_seconds'] for run in runs])}")
    _print(f"ids per second, whole run: {ids / statistics.median(seconds):,.0f}")
    _print(f"peak memory growth, MB: {_spread([run['rss_growth_mb'] for run in runs])}")
    _save(ids, repeat, runs)


def _save(ids: int, repeat: int, runs: list[dict[str, float]]) -> None:
    section = Section(
        "reconcile",
        f"Reconciliation of {ids:,} ids",
        f".venv/bin/python -m bench.reconcile_million --ids {ids} --repeat {repeat}",
        setup=(
            f"{ids:,} Attio deal ids on each of source, raw and mirror, with"
            " 1,000 missing in raw, 1,000 orphans, 1,000 stale and 500 without"
            " their mirror row, all found exactly; the connectors servicer and"
            " the reconcile code in one process over loopback gRPC."
        ),
    )
    section.add(Figure("whole run", "s", [run["seconds"] for run in runs]))
    section.add(
        Figure("comparison alone", "s", [run["compare_seconds"] for run in runs])
    )
    section.add(
        Figure(
            "ids per second, whole run", "ids/s", [ids / run["seconds"] for run in runs]
        )
    )
    section.add(
        Figure("peak memory growth", "MB", [run["rss_growth_mb"] for run in runs])
    )
    section.save()


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.ids, arguments.repeat))
