"""Records per second of a full sync of each connector against its fake.

Each fake runs as its own process on the real data sets. The sync runs in
this process through the connectors service's own sync code into a fresh
database of the embedded Postgres under var/bench. Run with

    .venv/bin/python -m bench.connector_sync [--repeat 3]

and it prints one line per connector: records written, seconds, records/s
(median of the repeats, with the spread), and saves them for the report.
"""

import argparse
import asyncio
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.results import Figure, Section
from bench.scratch import drop_scratch_databases, fresh_database
from devstack.processes import ProcessGroup, free_port, wait_for_port
from devstack.stack import SECRET_OPTIONS
from services.common.database import start_embedded_postgres, stop_embedded_postgres
from services.connectors.repository import SyncRun
from services.connectors.settings import ConnectorsSettings
from services.connectors.sources import SyncBodies

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / ".." / "shared" / "data" / "real"
DATA_DIR = REPO / "var" / "bench"
DATA = {
    "chatwoot": ["--data", "banking", "--data", "multiwoz-ru", "--account-id", "1"],
    "linear": ["--data", "github-issues"],
    "attio": ["--data", "maven-crm"],
}
RECORD_COUNTS = {
    "chatwoot": ("contacts_written", "conversations", "messages"),
    "linear": ("issues_written", "cycles_written"),
    "attio": ("companies_written", "people_written", "deals_written"),
}


def _settings(connector: str, port: int, secret: str) -> ConnectorsSettings:
    url = f"http://127.0.0.1:{port}"
    values = {
        "chatwoot": {
            "CHATWOOT_BASE_URL": url,
            "CHATWOOT_API_TOKEN": secret,
            "CHATWOOT_ACCOUNT_ID": 1,
        },
        "linear": {"LINEAR_API_URL": f"{url}/graphql", "LINEAR_API_KEY": secret},
        "attio": {"ATTIO_BASE_URL": url, "ATTIO_API_TOKEN": secret},
    }[connector]
    return ConnectorsSettings(**values)  # type: ignore[arg-type]


async def _one_sync(
    server: str, settings: ConnectorsSettings, connector: str
) -> tuple[int, float]:
    dsn = await fresh_database(server, ("connectors",))
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
    now = datetime.now(UTC)
    run = SyncRun(
        str(uuid.uuid4()),
        str(uuid.uuid4()),
        connector,
        "full",
        "running",
        "bench",
        now,
        now,
        now,
        None,
        {},
        None,
    )

    async def progress(counts: dict[str, int]) -> None:
        return None

    body = SyncBodies(pool, settings).for_connector(connector)
    started = time.perf_counter()
    counts = await body(run, progress)
    elapsed = time.perf_counter() - started
    await pool.close()
    return sum(counts.get(key, 0) for key in RECORD_COUNTS[connector]), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    server = start_embedded_postgres(DATA_DIR)
    group = ProcessGroup(REPO / "var" / "bench" / "logs")
    section = Section(
        "ingestion_http",
        "Ingestion through the fakes' HTTP APIs",
        f".venv/bin/python -m bench.connector_sync --repeat {args.repeat}",
        setup=(
            "A full sync of each connector from its fake, run as its own process"
            " on the real data sets (Chatwoot: banking and Russian MultiWOZ"
            " dialogues; Linear: 428 GitHub issues; Attio: Maven CRM, 85"
            " companies and 8,800 deals), into a fresh database per run. The"
            " figure includes the fakes' time to serve the pages."
        ),
    )
    try:
        for connector, data in DATA.items():
            port, secret = free_port(), secrets.token_hex(8)
            command = ["-m", f"fakes.{connector}", "--port", str(port)]
            command += [
                SECRET_OPTIONS[connector],
                secret,
                *data,
                "--data-dir",
                str(REAL),
            ]
            group.start(f"{connector}-fake", command, {})
            wait_for_port(group, port, 120)
            settings = _settings(connector, port, secret)
            results = [
                asyncio.run(_one_sync(server, settings, connector))
                for _ in range(args.repeat)
            ]
            rates = [records / seconds for records, seconds in results]
            section.add(
                Figure(f"{connector.capitalize()}, all records", "records/s", rates)
            )
            sys.stdout.write(
                f"{connector}: {results[0][0]} records,"
                f" median {statistics.median(s for _, s in results):.2f} s,"
                f" {statistics.median(rates):.0f} records/s"
                f" (min {min(rates):.0f}, max {max(rates):.0f})\n"
            )
    finally:
        group.stop()
        asyncio.run(drop_scratch_databases(server))
        stop_embedded_postgres(DATA_DIR)
    section.save()


if __name__ == "__main__":
    main()
