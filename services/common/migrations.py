"""Versioned SQL migrations, one folder and one Postgres schema per service.

Files are named `NNN_description.sql` and applied in order, each recorded in
`<schema>.schema_migrations` with a checksum. Applying twice is a no-op, and a
changed file that was already applied is an error rather than a silent skip.

Concurrency: a transaction-scoped advisory lock on the schema name makes
replicas that start together apply each migration once.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import structlog

from services.common.database import Connection

log = structlog.get_logger(__name__)

FILE_PATTERN = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """A migration file is malformed or differs from the applied version."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(folder: Path) -> list[Migration]:
    """Read every migration file in folder, ordered by version."""
    migrations = []
    for path in sorted(folder.glob("*.sql")):
        match = FILE_PATTERN.match(path.name)
        if match is None:
            raise MigrationError(f"invalid migration file name: {path.name}")
        migrations.append(Migration(int(match.group(1)), path.stem, path.read_text()))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {folder}")
    return migrations


async def apply_migrations(conn: Connection, schema: str, folder: Path) -> int:
    """Apply the missing migrations of one schema; return how many were applied."""
    migrations = load_migrations(folder)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = await _applied_checksums(conn, schema)
        count = 0
        for migration in migrations:
            if migration.version in applied:
                _check_unchanged(migration, applied[migration.version])
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                f'INSERT INTO "{schema}".schema_migrations (version, name, checksum)'
                " VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                migration.checksum,
            )
            count += 1
    log.info("migrations.applied", schema=schema, applied=count, total=len(migrations))
    return count


async def migrations_current(conn: Connection, schema: str, folder: Path) -> bool:
    """Return True when every migration in folder is applied to schema."""
    latest = max((m.version for m in load_migrations(folder)), default=0)
    table = await conn.fetchval(
        "SELECT to_regclass($1)", f'"{schema}".schema_migrations'
    )
    if table is None:
        return False
    applied = await conn.fetchval(
        f'SELECT max(version) FROM "{schema}".schema_migrations'
    )
    return applied is not None and applied >= latest


async def _applied_checksums(conn: Connection, schema: str) -> dict[int, str]:
    rows = await conn.fetch(
        f'SELECT version, checksum FROM "{schema}".schema_migrations'
    )
    return {row["version"]: row["checksum"] for row in rows}


def _check_unchanged(migration: Migration, applied_checksum: str) -> None:
    if migration.checksum != applied_checksum:
        raise MigrationError(
            f"migration {migration.name} changed after it was applied; "
            "add a new migration instead of editing an applied one"
        )
