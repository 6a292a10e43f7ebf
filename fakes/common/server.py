"""Serving a fake from the command line, with a log line once it listens."""

import socket
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

log = structlog.get_logger("fakes")


class _LoggingServer(uvicorn.Server):
    """A uvicorn server that logs once its socket is listening, and at shutdown."""

    def __init__(self, config: uvicorn.Config, details: dict[str, Any]) -> None:
        super().__init__(config)
        self._details = details

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            ports = [
                s.getsockname()[1] for server in self.servers for s in server.sockets
            ]
            log.info("fake.started", **{**self._details, "port": ports[0]})

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Logged here because uvicorn re-raises SIGTERM after run() returns.
        await super().shutdown(sockets)
        log.info("fake.stopped")


def serve(app: FastAPI, host: str, port: int, **details: Any) -> None:
    """Serve app until interrupted; details go into the "fake.started" line."""
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False
    )
    _LoggingServer(config, {"host": host, **details}).run()
