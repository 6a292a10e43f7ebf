"""F04: the services work behind PgBouncer in transaction pooling mode.

Under transaction pooling a statement prepared on one server connection may
be executed on another. The services then need DB_STATEMENT_CACHE_SIZE=0,
as the README explains; this test runs 50 concurrent searches and one
Linear sync through a real PgBouncer with that setting, and shows that the
default statement cache fails the same load.
"""

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import asyncpg
import numpy as np
import pytest
from pgvector.asyncpg import register_vector

from devstack.processes import free_port
from fakes.linear import LinearStore, create_app, load_schema
from fakes.openai.server import serve_in_thread
from services.common.database import create_pool
from services.common.migrations import apply_migrations
from services.rag import bm25, repository
from tests.connectors import harness
from tests.connectors.conftest import CONNECTORS_MIGRATIONS
from tests.connectors.conftest import PROJECT as CONNECTORS_PROJECT
from tests.rag.conftest import PROJECT, RAG_MIGRATIONS

SHARED = Path(__file__).resolve().parents[3] / "shared"
DIM = 384
KEY = "lin_api_pgbouncer"


def _pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("pgbouncer is not installed; `make test` installs it")
        pytest.skip("pgbouncer is not installed; `make test` installs it")
    return found


@pytest.fixture(scope="module")
def bouncer(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """A PgBouncer in transaction mode in front of the test server; its port."""
    binary = _pgbouncer_binary()
    server = urlparse(postgres_dsn)
    host = parse_qs(server.query).get("host", [server.hostname or "127.0.0.1"])[0]
    folder = tmp_path_factory.mktemp("pgbouncer")
    folder.chmod(0o755)
    port = free_port()
    (folder / "users.txt").write_text('"postgres" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={host} port={server.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 4\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    for path in folder.iterdir():
        path.chmod(0o644)
    # PgBouncer refuses to run as root; the embedded server's user can reach it.
    user = ["-u", "embedded_postgres"] if os.geteuid() == 0 else []
    process = subprocess.Popen(
        [binary, *user, str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(10)


def deadline_port(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "pgbouncer exited at start"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"pgbouncer did not listen on {port}")


async def _prepare(database_dsn: str) -> None:
    conn = await asyncpg.connect(database_dsn)
    try:
        await apply_migrations(conn, "rag", RAG_MIGRATIONS)
        await apply_migrations(conn, "connectors", CONNECTORS_MIGRATIONS)
        await register_vector(conn)
        rng = np.random.default_rng(4)
        for i in range(200):
            vector = rng.normal(size=DIM)
            await conn.execute(
                "INSERT INTO rag.rag_documents (project_id, source_type, external_id,"
                " title, indexed_sequence, chunk_count)"
                " VALUES ($1, 'linear_issue', $2, $2, 1, 1)",
                uuid.UUID(PROJECT),
                f"issue-{i}",
            )
            await conn.execute(
                "INSERT INTO rag.rag_chunks (project_id, source_type, external_id,"
                " chunk_index, text, token_count, content_hash, embedding,"
                " embedding_model, embedding_dim, embedding_status)"
                " VALUES ($1, 'linear_issue', $2, 0, $3, 10, $2, $4, 'm', $5, 'ready')",
                uuid.UUID(PROJECT),
                f"issue-{i}",
                f"invoice rounding problem number {i}",
                vector / np.linalg.norm(vector),
                DIM,
            )
        await bm25.rebuild(conn, uuid.UUID(PROJECT))
    finally:
        await conn.close()


async def _search(pool: asyncpg.Pool, seed: int) -> int:
    vector = np.random.default_rng(seed).normal(size=DIM)
    async with pool.acquire() as conn, conn.transaction():
        hits = await repository.vector_search(
            conn,
            PROJECT,
            vector / np.linalg.norm(vector),
            model="m",
            dimension=DIM,
            limit=10,
            source_types=[],
            ef_search=40,
        )
        hits += await repository.fulltext_search(
            conn, PROJECT, "invoice rounding", limit=10, source_types=[]
        )
    return len(hits)


async def _load(via_bouncer: str, linear_url: str, cache_size: int) -> list[object]:
    """50 searches and one Linear sync at once; return what each of them ended with."""
    rag = await create_pool(
        via_bouncer,
        min_size=1,
        max_size=10,
        statement_cache_size=cache_size,
        init=register_vector,
    )
    connectors = await create_pool(
        via_bouncer, min_size=1, max_size=4, statement_cache_size=cache_size
    )
    try:
        async with harness.source_http("linear", {"Authorization": KEY}) as http:
            jobs = [_search(rag, seed) for seed in range(50)]
            jobs.append(harness.sync(connectors, http, linear_url, mode="full"))
            return await asyncio.gather(*jobs, return_exceptions=True)
    finally:
        await rag.close()
        await connectors.close()


@pytest.fixture(scope="module")
def linear_url() -> Iterator[str]:
    store = LinearStore()
    team = store.add_team("ENG", "Engineering")
    for n in range(60):
        store.add_issue(team.id, f"Invoice rounding {n}", description="cents lost")
    schema = load_schema(SHARED / "specs" / "linear-schema.graphql")
    with serve_in_thread(create_app(store, api_key=KEY, schema=schema)) as url:
        yield f"{url}/graphql"


def _via(bouncer: int, database_dsn: str) -> str:
    name = urlparse(database_dsn).path.lstrip("/")
    return f"postgresql://postgres@127.0.0.1:{bouncer}/{name}"


async def test_services_work_behind_transaction_pooling(
    bouncer: int, database_dsn: str, linear_url: str
) -> None:
    await _prepare(database_dsn)

    results = await _load(_via(bouncer, database_dsn), linear_url, cache_size=0)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert [r for r in results[:50] if r != 20] == []
    conn = await asyncpg.connect(database_dsn)
    try:
        stored = await conn.fetchval(
            "SELECT count(*) FROM connectors.linear_issues_raw WHERE project_id = $1",
            uuid.UUID(CONNECTORS_PROJECT),
        )
    finally:
        await conn.close()
    assert stored == 60


async def test_statement_cache_breaks_behind_transaction_pooling(
    bouncer: int, database_dsn: str, linear_url: str
) -> None:
    await _prepare(database_dsn)

    results = await _load(_via(bouncer, database_dsn), linear_url, cache_size=100)

    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures
    assert any("prepared statement" in str(f) for f in failures)
