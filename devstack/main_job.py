"""The main job through the REST API: log in, pick a project, sync, embed, ask."""

import time
from dataclasses import dataclass
from typing import Any

import httpx


class MainJobError(RuntimeError):
    """A step of the main job got an unexpected response from the gateway."""


@dataclass
class ApiSession:
    """An httpx client holding the session cookies and the CSRF header."""

    client: httpx.Client

    def post(
        self, path: str, json: dict[str, Any] | None = None, expected: int = 200
    ) -> Any:
        return _checked(self.client.post(path, json=json), expected)

    def get(self, path: str) -> Any:
        return _checked(self.client.get(path), 200)


def _checked(response: httpx.Response, expected: int) -> Any:
    if response.status_code != expected:
        raise MainJobError(
            f"{response.request.method} {response.request.url.path} returned"
            f" {response.status_code} (expected {expected}): {response.text[:500]}"
        )
    return response.json()


def login(
    base_url: str, username: str, password: str, timeout_seconds: float = 900.0
) -> ApiSession:
    """Log in and return a session that sends the CSRF token on every request."""
    client = httpx.Client(base_url=base_url, timeout=timeout_seconds)
    body = _checked(
        client.post("/auth/login", json={"username": username, "password": password}),
        200,
    )
    client.headers["x-csrf-token"] = body["csrf_token"]
    return ApiSession(client)


def select_project(api: ApiSession, name: str) -> str:
    """Select the project called name, creating it when missing; return its id."""
    projects = api.get("/projects")["projects"]
    match = next((p for p in projects if p["name"] == name), None)
    project = match or api.post("/projects", {"name": name}, expected=201)
    api.post(f"/projects/{project['id']}/select")
    return str(project["id"])


def sync_and_wait(
    api: ApiSession, connector: str, timeout_seconds: float = 600.0
) -> dict[str, Any]:
    """Start a sync, wait for it to finish and return the finished run."""
    run = api.post(f"/jobs/{connector}/sync", {"mode": "incremental"}, expected=202)
    return wait_for_run(api, run["run_id"], timeout_seconds)


def wait_for_run(
    api: ApiSession, run_id: str, timeout_seconds: float = 600.0
) -> dict[str, Any]:
    """Poll a sync run until it leaves `running`; raise unless it succeeded."""
    deadline = time.monotonic() + timeout_seconds
    run = api.get(f"/jobs/runs/{run_id}")
    while run["status"] == "running":
        if time.monotonic() > deadline:
            raise MainJobError(
                f"sync run {run_id} still running after {timeout_seconds} s"
            )
        time.sleep(0.5)
        run = api.get(f"/jobs/runs/{run_id}")
    if run["status"] != "succeeded":
        raise MainJobError(f"sync run {run_id} ended {run['status']}: {run['error']}")
    return dict(run)


def wait_for_embeddings(
    api: ApiSession, timeout_seconds: float = 600.0
) -> dict[str, int]:
    """Wait until no chunk is pending or processing; return chunks by status.

    A sync also starts the scheduled embeddings job, which shares the work
    with a direct call, so the last chunks may finish there.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        counts = dict(api.get("/lightrag/status")["chunks_by_status"])
        if counts.get("pending", 0) + counts.get("processing", 0) == 0:
            return counts
        if time.monotonic() > deadline:
            raise MainJobError(
                f"chunks still waiting after {timeout_seconds} s: {counts}"
            )
        time.sleep(1.0)


def format_answer(result: dict[str, Any]) -> str:
    """Render an answer with its numbered citations for a terminal."""
    lines = [result["answer"], "", "Citations:"]
    for citation in result["citations"]:
        lines.append(
            f"  [{citation['number']}] {citation['title']}"
            f" ({citation['source_type']} {citation['external_id']})"
        )
    stats = result["stats"]
    lines.append("")
    lines.append(
        f"vector hits {stats['vector_hits']}, full-text hits {stats['fulltext_hits']},"
        f" {stats['duration_ms']:.0f} ms, trace {result['trace_id']}"
    )
    return "\n".join(lines)
