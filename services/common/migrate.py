"""Apply every service's migrations once and exit, for the migration Job of a release.

Run as `python -m services.common.migrate`. It reads DATABASE_URL and exits
with status 1 when the variable is missing or a migration fails. Services still
apply their own schema at start, which is idempotent and serialised by an
advisory lock, so running this first only moves a release's schema change
ahead of the rollout.

The rag schema's first migration runs `CREATE EXTENSION IF NOT EXISTS vector`,
so the database role needs the right to create that extension unless an
administrator has already created it in the database.
"""

import asyncio
import sys
from pathlib import Path

import asyncpg
import structlog

from services.common.logging import configure_logging
from services.common.migrations import MigrationError, apply_migrations
from services.common.settings import CommonSettings

log = structlog.get_logger(__name__)

SERVICES_DIR = Path(__file__).resolve().parents[1]

# Schemas in the order they are migrated. No schema references another, so
# the order only decides which failure is reported first.
SCHEMAS = ("auth", "connectors", "rag", "reconcile")


class DatabaseUrlMissing(RuntimeError):
    """DATABASE_URL is not set, so there is no server to migrate."""


def migrations_dir(schema: str) -> Path:
    """Return the migrations folder of the service that owns schema."""
    return SERVICES_DIR / schema / "migrations"


async def migrate_all(dsn: str) -> dict[str, int]:
    """Apply every service's missing migrations; return how many each schema got.

    On failure: the schema being migrated keeps none of that run's migrations,
    because apply_migrations runs them in one transaction, but schemas migrated
    before it keep theirs.
    """
    conn = await asyncpg.connect(dsn)
    try:
        applied = {}
        for schema in SCHEMAS:
            applied[schema] = await apply_migrations(
                conn, schema, migrations_dir(schema)
            )
        return applied
    finally:
        await conn.close()


def database_url(settings: CommonSettings) -> str:
    """Return the configured DSN, rejecting the embedded server's fallback.

    Services start an embedded Postgres when DATABASE_URL is unset. A one-shot
    Job doing that would migrate a throwaway database and report success.
    """
    if settings.database_url is None or not settings.database_url.get_secret_value():
        raise DatabaseUrlMissing(
            "DATABASE_URL is not set; set it to the Postgres server to migrate"
        )
    return settings.database_url.get_secret_value()


def main() -> int:
    """Migrate every schema and return the process exit status."""
    settings = CommonSettings()
    configure_logging(
        "migrate", log_format=settings.log_format, level=settings.log_level
    )
    try:
        applied = asyncio.run(migrate_all(database_url(settings)))
    except (
        DatabaseUrlMissing,
        MigrationError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        OSError,
    ) as error:
        log.error("migrations.failed", error=str(error), exc_info=True)
        return 1
    log.info("migrations.finished", applied=applied)
    return 0


if __name__ == "__main__":
    sys.exit(main())
