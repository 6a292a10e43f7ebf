"""Records per second of the Attio and Linear syncs, the database side alone.

The pages come from the fakes first, through the product's own clients, and
are kept in memory; each timed run then replays them through the product's
own pass code (record mapping, upserts into the raw tables, the CRM mirror,
the search documents, the pass state) into a fresh database, so the figure
is what the database side sustains when the source answers at once. The
real data sets are small (8,800 Maven deals, 428 GitHub issues), so copies
with new ids make up the volume. A second pass over the same pages measures
a sync that finds nothing changed. Run with

    .venv/bin/python -m bench.ingestion [--repeat 3] [--deals 20000] [--issues 20000]
"""

import argparse
import asyncio
import copy
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from bench.results import REPO, Figure, Section
from bench.scratch import drop_scratch_databases, fresh_database
from devstack.processes import ProcessGroup, free_port, wait_for_port
from devstack.stack import SECRET_OPTIONS
from services.common.database import start_embedded_postgres, stop_embedded_postgres
from services.connectors import failures
from services.connectors.attio import sync as attio_sync
from services.connectors.linear import sync as linear_sync
from services.connectors.passes import Entity, Page, SyncContext, run_pass
from services.connectors.settings import ConnectorsSettings
from services.connectors.sources import attio_client, linear_client, open_source_http

REAL = REPO / ".." / "shared" / "data" / "real"
JsonObject = dict[str, Any]
TARGET = ">= 5000"
# The entities keep the project they were made for; every run uses it.
PROJECT = str(uuid.uuid4())
DATA_DIR = REPO / "var" / "bench" / "ingestion"


@dataclass
class Recorded:
    """The pages of one entity as its source served them."""

    entity: Entity
    pages: list[list[JsonObject]]


class Replay:
    """An entity whose pages come from memory; the rest is the real entity's."""

    def __init__(self, recorded: Recorded) -> None:
        self._entity = recorded.entity
        self._pages = recorded.pages
        self.name = recorded.entity.name
        self.always_full = recorded.entity.always_full

    def __getattr__(self, name: str) -> Any:
        return getattr(self._entity, name)

    def first_position(self, since: Any) -> dict[str, Any]:
        return {"page": 0}

    async def fetch(self, position: dict[str, Any]) -> Page:
        index = int(position["page"])
        following = {"page": index + 1} if index + 1 < len(self._pages) else None
        return Page(self._pages[index], following)


async def _record(entity: Entity) -> Recorded:
    pages, position = [], entity.first_position(None)
    while position is not None:
        page = await entity.fetch(position)
        pages.append(page.records)
        position = page.next_position
    return Recorded(entity, pages)


def _grow(
    recorded: Recorded, total: int, renamed: Callable[[JsonObject, int], JsonObject]
) -> Recorded:
    """Repeat the pages with renamed copies until they hold `total` records."""
    pages: list[list[JsonObject]] = []
    count, round_ = 0, 0
    while count < total:
        for page in recorded.pages:
            batch = [renamed(record, round_) for record in page][: total - count]
            if batch:
                pages.append(batch)
            count += len(batch)
        round_ += 1
    return Recorded(recorded.entity, pages)


def _new_id(old: str, round_: int) -> str:
    return (
        old if round_ == 0 else str(uuid.uuid5(uuid.NAMESPACE_URL, f"{old}/{round_}"))
    )


def _renamed_deal(record: JsonObject, round_: int) -> JsonObject:
    record = copy.deepcopy(record)
    record["id"]["record_id"] = _new_id(record["id"]["record_id"], round_)
    return record


def _renamed_issue(record: JsonObject, round_: int) -> JsonObject:
    record = copy.deepcopy(record)
    record["id"] = _new_id(record["id"], round_)
    if round_:
        record["identifier"] = f"{record['identifier']}-{round_}"
    return record


def _settings(connector: str, port: int, secret: str) -> ConnectorsSettings:
    url = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {
        "linear": {"LINEAR_API_URL": f"{url}/graphql", "LINEAR_API_KEY": secret},
        "attio": {"ATTIO_BASE_URL": url, "ATTIO_API_TOKEN": secret},
    }[connector]
    return ConnectorsSettings(**values)


async def _record_source(
    settings: ConnectorsSettings, connector: str
) -> list[Recorded]:
    async with open_source_http(settings, connector) as http:
        if connector == "attio":
            entities = attio_sync.entities(attio_client(settings, http), PROJECT)
        else:
            entities = linear_sync.entities(linear_client(settings, http), PROJECT)
        return [await _record(entity) for entity in entities]


def record_pages(
    group: ProcessGroup, connector: str, data: list[str]
) -> list[Recorded]:
    """Start the connector's fake on the real data and keep every page it serves."""
    port, secret = free_port(), secrets.token_hex(8)
    command = ["-m", f"fakes.{connector}", "--port", str(port)]
    command += [SECRET_OPTIONS[connector], secret, *data, "--data-dir", str(REAL)]
    group.start(f"{connector}-fake", command, {})
    wait_for_port(group, port, 120)
    return asyncio.run(_record_source(_settings(connector, port, secret), connector))


async def _fresh_pool(server: str) -> asyncpg.Pool:
    dsn = await fresh_database(server, ("connectors",))
    return await asyncpg.create_pool(dsn, min_size=2, max_size=4)


async def _no_progress(counts: dict[str, int]) -> None:
    return None


async def one_run(
    server: str, connector: str, recorded: list[Recorded]
) -> dict[str, float]:
    """Replay every entity into a fresh database; time the last one twice.

    The last entity is the measured one (deals, issues); the ones before it
    are what it needs in place (companies and people, cycles). Its second
    pass finds every record unchanged.
    """
    async with AsyncExitStack() as stack:
        pool = await _fresh_pool(server)
        stack.push_async_callback(pool.close)
        project_id = PROJECT
        for entity in recorded[:-1]:
            await run_pass(
                _context(pool, project_id, connector), Replay(entity), full=True
            )
        measured = recorded[-1]
        records = sum(len(page) for page in measured.pages)
        seconds = []
        for _ in range(2):
            ctx = _context(pool, project_id, connector)
            started = time.perf_counter()
            await run_pass(ctx, Replay(measured), full=True)
            seconds.append(time.perf_counter() - started)
        written = ctx.counts[f"{measured.entity.name}_written"]
        if written:
            raise RuntimeError(f"the unchanged pass wrote {written} records")
        return {"records": records, "first": seconds[0], "unchanged": seconds[1]}


def _context(pool: asyncpg.Pool, project_id: str, connector: str) -> SyncContext:
    return SyncContext(
        pool=pool,
        project_id=project_id,
        connector=connector,
        run_id=str(uuid.uuid4()),
        overlap=timedelta(0),
        backoff=failures.Backoff(),
        progress=_no_progress,
    )


SOURCES = {
    # connector: fake's data options, measured entity, how copies are renamed
    "attio": (["--data", "maven-crm"], "deals", _renamed_deal),
    "linear": (["--data", "github-issues"], "issues", _renamed_issue),
}


def measure(
    group: ProcessGroup, server: str, connector: str, total: int, repeat: int
) -> list[Figure]:
    data, entity, renamed = SOURCES[connector]
    recorded = record_pages(group, connector, data)
    recorded[-1] = _grow(recorded[-1], total, renamed)
    runs = [asyncio.run(one_run(server, connector, recorded)) for _ in range(repeat)]
    records = runs[0]["records"]
    label = f"{connector.capitalize()} {entity}"
    into = "raw and mirror" if connector == "attio" else "raw"
    return [
        Figure(
            f"{label}, first sync into {into}",
            "records/s",
            [records / run["first"] for run in runs],
            TARGET,
        ),
        Figure(
            f"{label}, sync with nothing changed",
            "records/s",
            [records / run["unchanged"] for run in runs],
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--issues", type=int, default=20_000)
    args = parser.parse_args()
    server = start_embedded_postgres(DATA_DIR)
    group = ProcessGroup(REPO / "var" / "bench" / "logs")
    section = Section(
        "ingestion",
        "Ingestion, database side",
        f".venv/bin/python -m bench.ingestion --repeat {args.repeat}"
        f" --deals {args.deals} --issues {args.issues}",
        setup=(
            f"{args.deals:,} Attio deals (8,800 Maven deals and renamed copies)"
            " over 85 companies and their people; "
            f"{args.issues:,} Linear issues (428 GitHub issues and renamed copies)"
            " with their comments; pages as the fakes serve them (500 Attio"
            " records, 50 Linear issues), one transaction per page; each run"
            " into a fresh database"
        ),
    )
    try:
        for connector, total in (("attio", args.deals), ("linear", args.issues)):
            for figure in measure(group, server, connector, total, args.repeat):
                section.add(figure)
                sys.stdout.write(f"{figure.name}: {figure.median:,.0f} {figure.unit}\n")
    finally:
        group.stop()
        asyncio.run(drop_scratch_databases(server))
        stop_embedded_postgres(DATA_DIR)
    section.save()


if __name__ == "__main__":
    main()
