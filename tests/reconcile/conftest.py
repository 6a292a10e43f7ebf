from collections.abc import AsyncIterator, Iterator

import pytest

from fakes.attio import AttioStore, create_app
from fakes.openai.server import serve_in_thread
from tests.reconcile.harness import Services, serve

ATTIO_TOKEN = "attio-reconcile-token"


@pytest.fixture
def attio_url(store: AttioStore) -> Iterator[str]:
    """The fake Attio over the test module's store."""
    with serve_in_thread(create_app(store, api_token=ATTIO_TOKEN)) as url:
        yield url


@pytest.fixture
async def services(database_dsn: str, attio_url: str) -> AsyncIterator[Services]:
    """The services with only Attio configured; a module may override it."""
    sources = {"ATTIO_BASE_URL": attio_url, "ATTIO_API_TOKEN": ATTIO_TOKEN}
    async with serve(database_dsn, sources) as running:
        yield running
