"""Cost of the REST gateway: added latency over a direct gRPC call, and requests/s.

The whole stack (embedded Postgres under var/bench/gateway, the four services
and the gateway as separate processes, without the fake sources) starts as
`make up` starts it, on free loopback ports. Two measurements follow:

- Latency: `GET /auth/me` on one keep-alive connection, taking turns with
  `ResolveSession` called directly on the auth service with the same session
  token, N calls of each. `GET /auth/me` makes exactly that one call, so the
  difference of the medians is the gateway's own cost. The gateway's CPU time
  per call is measured too, because it varies less than latency on a shared
  machine.
- Throughput: `GET /health/live`, which calls no service, from 32 keep-alive
  connections for 10 s. The load generator runs in a separate process, so it
  does not share the gateway's event loop, and reports the CPU it used.

Run with

    .venv/bin/python -m bench.gateway [--repeat 3]

and it prints each repeat and saves the section "gateway" under
var/bench/results.
"""

import argparse
import asyncio
import multiprocessing
import os
import shutil
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import httpx

from bench.results import REPO, Figure, Section, percentile
from devstack.stack import RunningStack, StackConfig, start_stack
from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.common.grpc_client import call_metadata, create_channel
from services.common.internal_auth import service_principal

STACK_DIR = REPO / "var" / "bench" / "gateway" / "stack"
SESSION_COOKIE = "opsdesk_session"
GRPC_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
RPC_TIMEOUT_SECONDS = 30.0


@dataclass
class RunSettings:
    """Call counts and load shape of one benchmark run."""

    calls: int = 2000
    warmup_calls: int = 200
    connections: int = 32
    load_seconds: float = 10.0
    repeat: int = 3


@dataclass
class Repeat:
    """Samples of one repeat: per-call latencies in ms and one load run."""

    rest_ms: list[float]
    grpc_ms: list[float]
    # Gateway CPU time per GET /auth/me. The direct gRPC calls use none of it.
    rest_gateway_cpu_ms: float
    load: dict[str, float] = field(default_factory=dict)


def start() -> RunningStack:
    """Start Postgres, the services and the gateway, without the fake sources."""
    config = StackConfig.on_free_ports(
        data_dir=STACK_DIR / "data", log_dir=STACK_DIR / "logs"
    )
    config.fakes = {}
    return start_stack(config)


def log_in(stack: RunningStack) -> str:
    """Log in as the owner through REST and return the session token."""
    response = httpx.post(
        f"{stack.gateway_url}/auth/login",
        json={
            "username": stack.config.owner_username,
            "password": stack.config.owner_password,
        },
        timeout=10.0,
    )
    response.raise_for_status()
    return str(response.cookies[SESSION_COOKIE])


class HttpConnection:
    """One HTTP/1.1 keep-alive connection that sends prebuilt requests.

    It reads only the status line, Content-Length and the body, so the client
    adds as little as possible to what is measured.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> "HttpConnection":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> int:
        """Send request, read the whole response and return its status code."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(head[9:12])

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def get_request(path: str, cookie: str = "") -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    if cookie:
        lines.append(f"Cookie: {SESSION_COOKIE}={cookie}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class LatencyClients:
    """The keep-alive REST connection and the gRPC stub, with what each call sends."""

    connection: HttpConnection
    rest_request: bytes
    stub: auth_pb2_grpc.AuthServiceStub
    grpc_request: auth_pb2.ResolveSessionRequest
    secret: str


async def time_rest_call(clients: LatencyClients) -> float:
    """Time one GET /auth/me and return its milliseconds."""
    started = time.perf_counter()
    status = await clients.connection.send(clients.rest_request)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"GET /auth/me returned {status}, expected 200")
    return elapsed_ms


async def time_grpc_call(clients: LatencyClients) -> float:
    """Time one ResolveSession as the gateway makes it, token minting included."""
    started = time.perf_counter()
    principal = service_principal("gateway", request_id=str(uuid.uuid4()))
    await clients.stub.ResolveSession(
        clients.grpc_request,
        metadata=call_metadata(principal, clients.secret),
        timeout=RPC_TIMEOUT_SECONDS,
    )
    return (time.perf_counter() - started) * 1000


async def alternate_calls(
    clients: LatencyClients, calls: int
) -> tuple[list[float], list[float]]:
    """Time `calls` calls of each path, taking turns call by call.

    Both paths then see the same load from other processes of this machine,
    so their difference stays comparable.
    """
    rest_ms = []
    grpc_ms = []
    for _ in range(calls):
        rest_ms.append(await time_rest_call(clients))
        grpc_ms.append(await time_grpc_call(clients))
    return rest_ms, grpc_ms


async def measure_latency(
    stack: RunningStack, token: str, settings: RunSettings
) -> Repeat:
    """Warm both paths up, then time them and the gateway's CPU time per REST call."""
    auth_address = f"127.0.0.1:{stack.config.service_ports['auth']}"
    channel = create_channel(auth_address, GRPC_MAX_MESSAGE_BYTES)
    connection = await HttpConnection.open(stack.config.gateway_port)
    clients = LatencyClients(
        connection=connection,
        rest_request=get_request("/auth/me", token),
        stub=auth_pb2_grpc.AuthServiceStub(channel),
        grpc_request=auth_pb2.ResolveSessionRequest(session_token=token),
        secret=stack.config.internal_token_secret,
    )
    gateway_pid = _gateway_pid(stack)
    try:
        await alternate_calls(clients, settings.warmup_calls)
        cpu_before = process_cpu_seconds(gateway_pid)
        rest_ms, grpc_ms = await alternate_calls(clients, settings.calls)
        cpu_seconds = process_cpu_seconds(gateway_pid) - cpu_before
    finally:
        await connection.close()
        await channel.close()
    return Repeat(
        rest_ms, grpc_ms, rest_gateway_cpu_ms=cpu_seconds * 1000 / settings.calls
    )


async def _load_connection(port: int, deadline: float, counts: dict[str, int]) -> None:
    connection = await HttpConnection.open(port)
    request = get_request("/health/live")
    try:
        while time.perf_counter() < deadline:
            status = await connection.send(request)
            counts["ok" if status == 200 else "failed"] += 1
    finally:
        await connection.close()


async def _load(port: int, connections: int, seconds: float) -> dict[str, float]:
    counts = {"ok": 0, "failed": 0}
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(_load_connection(port, deadline, counts) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    return {"ok": counts["ok"], "failed": counts["failed"], "seconds": elapsed}


def run_load(port: int, connections: int, seconds: float) -> dict[str, float]:
    """Load GET /health/live from this process and return counts and CPU seconds.

    It runs in a child process, with uvloop when it is installed.
    """
    cpu_started = time.process_time()
    try:
        import uvloop

        result = uvloop.run(_load(port, connections, seconds))
    except ImportError:
        result = asyncio.run(_load(port, connections, seconds))
    result["cpu_seconds"] = time.process_time() - cpu_started
    return result


def process_cpu_seconds(pid: int) -> float:
    """Return user plus system CPU seconds that process pid has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _gateway_pid(stack: RunningStack) -> int:
    return next(p.popen.pid for p in stack.group.processes if p.name == "gateway")


def measure_throughput(
    stack: RunningStack, executor: ProcessPoolExecutor, settings: RunSettings
) -> dict[str, float]:
    """Run one load in the executor's process and add the gateway's CPU use."""
    gateway_pid = _gateway_pid(stack)
    cpu_before = process_cpu_seconds(gateway_pid)
    future = executor.submit(
        run_load,
        stack.config.gateway_port,
        settings.connections,
        settings.load_seconds,
    )
    result = future.result()
    result["gateway_cpu_seconds"] = process_cpu_seconds(gateway_pid) - cpu_before
    return result


def _median_of_each(repeats: list[Repeat], share: float, path: str) -> list[float]:
    return [round(percentile(getattr(r, path), share), 3) for r in repeats]


def _rps(repeat: Repeat) -> float:
    return repeat.load["ok"] / repeat.load["seconds"]


def latency_figures(repeats: list[Repeat]) -> list[Figure]:
    rest = _median_of_each(repeats, 0.5, "rest_ms")
    grpc = _median_of_each(repeats, 0.5, "grpc_ms")
    added = [round(r - g, 3) for r, g in zip(rest, grpc, strict=True)]
    return [
        Figure("REST GET /auth/me, median", "ms", rest),
        Figure(
            "REST GET /auth/me, p95", "ms", _median_of_each(repeats, 0.95, "rest_ms")
        ),
        Figure("gRPC ResolveSession direct, median", "ms", grpc),
        Figure(
            "gRPC ResolveSession direct, p95",
            "ms",
            _median_of_each(repeats, 0.95, "grpc_ms"),
        ),
        Figure("added by the gateway, median", "ms", added, target="<= 2"),
        Figure(
            "gateway CPU time per GET /auth/me",
            "ms",
            [round(r.rest_gateway_cpu_ms, 3) for r in repeats],
        ),
    ]


def throughput_figures(repeats: list[Repeat]) -> list[Figure]:
    loads = [r.load for r in repeats]
    return [
        Figure(
            "GET /health/live",
            "requests/s",
            [round(_rps(r), 1) for r in repeats],
            target=">= 1000",
            note="failed responses: " + str(sum(int(x["failed"]) for x in loads)),
        ),
        Figure(
            "gateway CPU during the load",
            "cores",
            [round(x["gateway_cpu_seconds"] / x["seconds"], 2) for x in loads],
        ),
        Figure(
            "gateway CPU time per GET /health/live",
            "ms",
            [round(x["gateway_cpu_seconds"] * 1000 / x["ok"], 3) for x in loads],
        ),
        Figure(
            "GET /health/live per gateway CPU core",
            "requests/s",
            [round(x["ok"] / x["gateway_cpu_seconds"], 1) for x in loads],
            note="requests/s divided by the cores the gateway used",
        ),
        Figure(
            "load generator CPU",
            "cores",
            [round(x["cpu_seconds"] / x["seconds"], 2) for x in loads],
        ),
    ]


def _http_stack() -> str:
    """Name the event loop and HTTP parser uvicorn's "auto" choice picks here."""
    loop = "uvloop" if _installed("uvloop") else "asyncio"
    parser = "httptools" if _installed("httptools") else "h11"
    return f"{loop} + {parser}"


def _installed(module: str) -> bool:
    from importlib.util import find_spec

    return find_spec(module) is not None


def build_section(repeats: list[Repeat], settings: RunSettings) -> Section:
    section = Section(
        name="gateway",
        title="REST gateway: added latency and requests per second",
        command=f".venv/bin/python -m bench.gateway --repeat {settings.repeat}",
        setup=(
            f"{os.cpu_count()} cores. Stack as `make up`"
            " starts it: embedded Postgres, auth, connectors, rag and reconcile"
            " services and the gateway (1 uvicorn worker, "
            f"{_http_stack()}) as separate processes on loopback. Latency:"
            f" {settings.calls} calls of each path per repeat, after"
            f" {settings.warmup_calls} warm-up calls of each, taking turns call by"
            " call: GET /auth/me over one HTTP/1.1 keep-alive connection (raw"
            " asyncio streams), and ResolveSession on one grpc.aio channel to the"
            " auth service with the same session token and a fresh internal token"
            " per call, as the gateway mints it. Throughput: GET /health/live"
            f" from {settings.connections} keep-alive connections for"
            f" {settings.load_seconds:g} s, generated by a separate process"
            " (raw asyncio streams, uvloop when installed); its CPU use is a"
            " figure. Gateway CPU is read from /proc. Samples are one per repeat."
        ),
    )
    for figure in latency_figures(repeats) + throughput_figures(repeats):
        section.add(figure)
    return section


def print_repeat(index: int, repeat: Repeat) -> None:
    rest = percentile(repeat.rest_ms, 0.5)
    grpc = percentile(repeat.grpc_ms, 0.5)
    load = repeat.load
    sys.stdout.write(
        f"repeat {index}: REST median {rest:.3f} ms"
        f" p95 {percentile(repeat.rest_ms, 0.95):.3f} ms,"
        f" gRPC median {grpc:.3f} ms p95 {percentile(repeat.grpc_ms, 0.95):.3f} ms,"
        f" added {rest - grpc:.3f} ms,"
        f" gateway CPU {repeat.rest_gateway_cpu_ms:.3f} ms per call\n"
        f"  load: {_rps(repeat):.0f} requests/s ({load['failed']:.0f} failed),"
        f" gateway CPU {load['gateway_cpu_seconds'] / load['seconds']:.2f} cores"
        f" ({load['gateway_cpu_seconds'] * 1000 / load['ok']:.3f} ms per request),"
        f" load generator CPU {load['cpu_seconds'] / load['seconds']:.2f} cores\n"
    )
    sys.stdout.flush()


def run(settings: RunSettings) -> list[Repeat]:
    """Start a fresh stack, run every repeat on it and stop it again."""
    shutil.rmtree(STACK_DIR, ignore_errors=True)
    stack = start()
    spawn = multiprocessing.get_context("spawn")
    try:
        token = log_in(stack)
        repeats = []
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as executor:
            for index in range(1, settings.repeat + 1):
                repeat = asyncio.run(measure_latency(stack, token, settings))
                repeat.load = measure_throughput(stack, executor, settings)
                print_repeat(index, repeat)
                repeats.append(repeat)
        return repeats
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats (default 3)")
    parser.add_argument(
        "--calls", type=int, default=2000, help="timed calls per repeat and path"
    )
    parser.add_argument(
        "--load-seconds", type=float, default=10.0, help="seconds of each load run"
    )
    parser.add_argument(
        "--connections", type=int, default=32, help="keep-alive connections of the load"
    )
    args = parser.parse_args()
    settings = RunSettings(
        calls=args.calls,
        connections=args.connections,
        load_seconds=args.load_seconds,
        repeat=args.repeat,
    )
    repeats = run(settings)
    path = build_section(repeats, settings).save()
    sys.stdout.write(f"saved {path}\n")


if __name__ == "__main__":
    main()
