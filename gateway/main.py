"""Entry point of the gateway: settings, logging, metrics storage, uvicorn.

gateway.app and gateway.metrics are imported only inside build_app, after
main has prepared PROMETHEUS_MULTIPROC_DIR, because prometheus_client chooses
in-memory or file storage when it is first imported.
"""

import atexit
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from gateway.settings import GatewaySettings
from services.common.logging import configure_logging
from services.common.telemetry import configure_tracing

log = structlog.get_logger(__name__)

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def build_app() -> FastAPI:
    """Configure this worker process and build its app. Uvicorn calls it per worker."""
    from gateway import metrics
    from gateway.app import create_app

    settings = GatewaySettings()
    configure_logging(
        "gateway", log_format=settings.log_format, level=settings.log_level
    )
    configure_tracing("gateway")
    app = create_app(settings)
    _count_worker_during_lifespan(app, metrics.start_worker, metrics.stop_worker)
    return app


def _count_worker_during_lifespan(
    app: FastAPI, start: Callable[[], None], stop: Callable[[], None]
) -> None:
    """Run start before the app's own lifespan and stop after it ends.

    The worker is marked dead here and not in an atexit hook, because uvicorn
    re-raises the SIGTERM it caught once the server has shut down, and a
    process ended by that signal runs no atexit hooks.
    """
    app_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        start()
        try:
            async with app_lifespan(app_) as state:
                yield state
        finally:
            stop()

    app.router.lifespan_context = lifespan


def prepare_metrics_dir(settings: GatewaySettings) -> Path | None:
    """Empty the multiprocess metrics directory before any worker writes to it.

    With several workers and no PROMETHEUS_MULTIPROC_DIR, create a temporary
    directory, export it to the workers and remove it when this process exits.
    Returns the directory, or None in single-process mode.
    """
    directory = settings.prometheus_multiproc_dir
    if directory is None:
        if settings.workers == 1:
            return None
        directory = Path(tempfile.mkdtemp(prefix="opsdesk-gateway-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ[MULTIPROCESS_DIR_VARIABLE] = str(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Only the files prometheus_client writes (counter_<pid>.db, gauge_*_<pid>.db
    # and so on) are removed, so a directory shared with other files is safe.
    stale = sorted(directory.glob("*.db"))
    for path in stale:
        path.unlink()
    log.info(
        "metrics directory ready",
        directory=str(directory),
        workers=settings.workers,
        stale_files_removed=len(stale),
    )
    return directory


def main() -> None:
    settings = GatewaySettings()
    configure_logging(
        "gateway", log_format=settings.log_format, level=settings.log_level
    )
    prepare_metrics_dir(settings)
    # The app is given as an import string because uvicorn builds it again in
    # every worker process it spawns.
    uvicorn.run(
        "gateway.main:build_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
