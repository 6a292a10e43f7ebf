"""Running the fake API on a free local port, in a background thread."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 10.0


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 and a free port, and yield its base URL.

    The URL has no path, for example "http://127.0.0.1:5123".
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"fake-api-{port}",
        daemon=True,
    )
    thread.start()
    try:
        _wait_until_started(server, thread)
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_SECONDS)
        sock.close()


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the fake API server stopped while starting")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the fake API server did not start within {START_TIMEOUT_SECONDS} s"
            )
        time.sleep(0.01)
