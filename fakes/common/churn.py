"""Records that change while a client pages through them.

A Churn changes one record of the fake's store after every `every`-th API
request, with the fake's own `mutate` function (which picks a record with the
given random generator, changes it, and returns a description such as
"updated issue ENG-4"). Tests turn it on to check that a sync running during
the changes still ends with every record at its latest version.
`POST /__fake__/churn {"every": 5, "seed": 1}` starts it and
`DELETE /__fake__/churn` stops it; `GET /__fake__/churn` lists what changed.
"""

import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from fakes.common.faults import ADMIN_PREFIX

Mutate = Callable[[random.Random], str]


class ChurnBody(BaseModel):
    """JSON body of `POST /__fake__/churn`."""

    model_config = ConfigDict(extra="forbid")

    every: int = Field(ge=1)
    seed: int = 0


class Churn:
    """Counts API requests and changes a record after every `every`-th one."""

    def __init__(self, mutate: Mutate) -> None:
        self._mutate = mutate
        self._lock = threading.Lock()
        self.start(0)

    def start(self, every: int, seed: int = 0) -> None:
        """Change a record after every `every`-th request; 0 stops the changes."""
        with self._lock:
            self.every = every
            self._random = random.Random(seed)
            self._requests = 0
            self.changes: list[str] = []

    def after_request(self) -> None:
        """Count one API request, and change a record when its turn has come."""
        with self._lock:
            if not self.every:
                return
            self._requests += 1
            if self._requests % self.every == 0:
                self.changes.append(self._mutate(self._random))


def install_churn(app: FastAPI, churn: Churn) -> None:
    """Add the middleware that drives churn and its admin routes."""

    @app.middleware("http")
    async def drive_churn(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(ADMIN_PREFIX):
            churn.after_request()
        return response

    router = APIRouter(prefix=ADMIN_PREFIX)

    @router.get("/churn")
    async def get_churn() -> dict[str, Any]:
        return {"every": churn.every, "changes": list(churn.changes)}

    @router.post("/churn")
    async def set_churn(body: ChurnBody) -> dict[str, Any]:
        churn.start(body.every, body.seed)
        return {"every": churn.every, "changes": []}

    @router.delete("/churn", status_code=204)
    async def stop_churn() -> Response:
        churn.start(0)
        return Response(status_code=204)

    app.include_router(router)
