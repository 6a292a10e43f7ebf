"""Injected failures and request counts for a fake, settable while it runs.

A FaultPlan picks, per API request, whether to send the normal response or
a failure. Scripted outcomes are used first, one per matching request, then a
seeded random draw fails `rate` of the matching requests. With the same plan
and the same request order the same requests fail.

Each fake lists the outcomes it supports and builds their responses. This
module only chooses them. The admin paths under `/__fake__/` need no token,
are never failed and are not counted.
"""

import random
import threading
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

ADMIN_PREFIX = "/__fake__"

log = structlog.get_logger(__name__)

CallNext = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class FaultPlan:
    """Rules that pick which API requests fail, and how.

    script: outcomes for the first matching requests, in order ("ok" passes).
    rate: share of the later matching requests that fail, from 0 to 1.
    kinds: outcomes a random failure picks from, uniformly.
    seed: seed of the random draws.
    hang_seconds: how long a "timeout" outcome waits before responding.
    path_contains: only requests whose path contains this text can fail.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = ("429",)
    script: tuple[str, ...] = ()
    seed: int = 0
    hang_seconds: float = 30.0
    path_contains: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate {self.rate} is outside 0..1")
        if self.rate > 0 and not self.kinds:
            raise ValueError("a positive rate needs at least one kind")
        if self.hang_seconds < 0:
            raise ValueError(f"hang_seconds {self.hang_seconds} is negative")

    def check_kinds(self, known: tuple[str, ...]) -> None:
        """Raise ValueError when the plan names an outcome the fake does not know."""
        unknown = sorted({*self.kinds, *self.script} - {"ok", *known})
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; use {known}")


class FaultPlanBody(BaseModel):
    """JSON body of `POST /__fake__/faults`, with the fields of FaultPlan."""

    model_config = ConfigDict(extra="forbid")

    rate: float = Field(default=0.0, ge=0.0, le=1.0)
    kinds: list[str] = Field(default_factory=lambda: ["429"])
    script: list[str] = Field(default_factory=list)
    seed: int = 0
    hang_seconds: float = Field(default=30.0, ge=0.0)
    path_contains: str | None = None

    def to_plan(self) -> FaultPlan:
        """Build the FaultPlan this body describes."""
        return FaultPlan(
            rate=self.rate,
            kinds=tuple(self.kinds),
            script=tuple(self.script),
            seed=self.seed,
            hang_seconds=self.hang_seconds,
            path_contains=self.path_contains,
        )


@dataclass(frozen=True)
class Fault:
    """The failure chosen for one request, with the plan's hang time."""

    kind: str
    hang_seconds: float


class FaultInjector:
    """Holds the current plan and draws the outcome of each request."""

    def __init__(self, known: tuple[str, ...], plan: FaultPlan | None = None) -> None:
        self.known = known
        self._lock = threading.Lock()
        self.set_plan(plan)

    @property
    def plan(self) -> FaultPlan | None:
        """The plan in force, or None when every request gets its normal response."""
        return self._plan

    def set_plan(self, plan: FaultPlan | None) -> None:
        """Replace the plan and restart its script and random draws."""
        if plan is not None:
            plan.check_kinds(self.known)
        with self._lock:
            self._plan = plan
            self._random = random.Random(plan.seed if plan else 0)
            self._script_position = 0

    def choose(self, path: str) -> Fault | None:
        """Return the failure for a request to path, or None for the normal response."""
        with self._lock:
            plan = self._plan
            if plan is None:
                return None
            if plan.path_contains and plan.path_contains not in path:
                return None
            kind = "ok"
            if self._script_position < len(plan.script):
                kind = plan.script[self._script_position]
                self._script_position += 1
            elif plan.rate > 0 and self._random.random() < plan.rate:
                kind = self._random.choice(plan.kinds)
            return None if kind == "ok" else Fault(kind, plan.hang_seconds)


class RequestStats:
    """Counts API responses per path and status, and injected faults per kind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._by_path: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self._faults: Counter[str] = Counter()

    def record(self, path: str, status: int, fault: str | None) -> None:
        """Count one response, and the fault injected into it if any."""
        with self._lock:
            self._by_path[path][str(status)] += 1
            if fault is not None:
                self._faults[fault] += 1

    def snapshot(self) -> dict[str, Any]:
        """Return the counts as JSON-ready data."""
        with self._lock:
            by_path = {path: dict(counts) for path, counts in self._by_path.items()}
            return {
                "total": sum(sum(c.values()) for c in self._by_path.values()),
                "paths": by_path,
                "faults": dict(self._faults),
            }


Responder = Callable[[Fault, Request, CallNext], Awaitable[Response]]


def install_faults(
    app: FastAPI, injector: FaultInjector, stats: RequestStats, respond: Responder
) -> None:
    """Add the middleware that injects faults (built by respond) and counts."""

    @app.middleware("http")
    async def inject_fault(request: Request, call_next: CallNext) -> Response:
        path = request.url.path
        if path.startswith(ADMIN_PREFIX):
            return await call_next(request)
        fault = injector.choose(path)
        if fault is None:
            response = await call_next(request)
        else:
            log.debug("fake.fault_injected", path=path, fault=fault.kind)
            response = await respond(fault, request, call_next)
        stats.record(path, response.status_code, fault.kind if fault else None)
        return response

    app.include_router(_admin_router(injector, stats))


async def read_body(response: Response) -> bytes:
    """Collect the body of a streamed response."""
    body = b""
    async for chunk in response.body_iterator:  # type: ignore[attr-defined]
        body += chunk if isinstance(chunk, bytes) else chunk.encode()
    return body


async def truncated(response: Response) -> Response:
    """Return the response with its body cut in half, like a dropped connection."""
    body = await read_body(response)
    return Response(
        body[: len(body) // 2], response.status_code, media_type="application/json"
    )


def _admin_router(injector: FaultInjector, stats: RequestStats) -> APIRouter:
    router = APIRouter(prefix=ADMIN_PREFIX)

    @router.get("/faults")
    async def get_faults() -> dict[str, Any] | None:
        plan = injector.plan
        return asdict(plan) if plan else None

    @router.post("/faults")
    async def set_faults(body: FaultPlanBody) -> dict[str, Any]:
        try:
            plan = body.to_plan()
            injector.set_plan(plan)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        log.info("fake.faults_set", **asdict(plan))
        return asdict(plan)

    @router.delete("/faults", status_code=204)
    async def clear_faults() -> Response:
        injector.set_plan(None)
        log.info("fake.faults_cleared")
        return Response(status_code=204)

    @router.get("/stats")
    async def get_stats() -> dict[str, Any]:
        return stats.snapshot()

    @router.delete("/stats", status_code=204)
    async def reset_stats() -> Response:
        stats.reset()
        return Response(status_code=204)

    return router
