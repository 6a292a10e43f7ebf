"""Start and stop the stack's processes and wait until each one responds."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]


class StackError(RuntimeError):
    """A process of the stack failed to start or stopped early."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    args: list[str]
    env: Mapping[str, str]


@dataclass
class ProcessGroup:
    """Children started for one stack; stopping the group stops each of them."""

    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: Mapping[str, str]) -> Process:
        """Start `python -m ...` style args with env, logging to log_dir/name.log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, popen, log_path, args, env)
        self.processes.append(process)
        return process

    def kill(self, name: str) -> Process:
        """SIGKILL one child, as a crash would end it, and forget it."""
        process = next(p for p in self.processes if p.name == name)
        process.popen.kill()
        process.popen.wait()
        self.processes.remove(process)
        return process

    def restart(self, name: str) -> Process:
        """Kill one child with SIGKILL and start it again with the same command."""
        killed = self.kill(name)
        return self.start(name, killed.args, killed.env)

    def exited(self) -> list[Process]:
        """Return the children that have exited."""
        return [p for p in self.processes if p.popen.poll() is not None]

    def log_tail(self, process: Process) -> str:
        return process.log_path.read_text(errors="replace")[-3000:]

    def check_alive(self) -> None:
        """Raise StackError naming the first child that exited."""
        for process in self.processes:
            code = process.popen.poll()
            if code is not None:
                tail = self.log_tail(process)
                raise StackError(
                    f"{process.name} exited with code {code}; log tail:\n{tail}"
                )

    def stop(self, timeout_seconds: float = 15.0) -> None:
        """Send SIGTERM to every child, then SIGKILL to those still running."""
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_seconds
        for process in self.processes:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.popen.wait(remaining)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        self.processes.clear()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_free(port: int) -> None:
    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise StackError(
                f"port {port} on 127.0.0.1 is in use;"
                " stop what holds it or pick another"
            )


def wait_for_port(group: ProcessGroup, port: int, timeout_seconds: float) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        group.check_alive()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise StackError(f"nothing listened on port {port} within {timeout_seconds} s")


def wait_for_health(group: ProcessGroup, base_url: str, timeout_seconds: float) -> None:
    """Wait until the gateway's /health returns 200."""
    deadline = time.monotonic() + timeout_seconds
    last = ""
    while time.monotonic() < deadline:
        group.check_alive()
        try:
            response = httpx.get(f"{base_url}/health", timeout=2.0)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise StackError(f"the gateway was not healthy within {timeout_seconds} s: {last}")
