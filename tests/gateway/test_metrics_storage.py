"""Gateway metrics in one process and in multiprocess mode, and the directory setup.

prometheus_client chooses multiprocess mode when it is imported, so the workers
here are short Python subprocesses with PROMETHEUS_MULTIPROC_DIR set. This test
process reads their files with a MultiProcessCollector of its own.
"""

import os
from pathlib import Path

import httpx
import pytest

from devstack.processes import free_port
from gateway import metrics
from gateway.app import create_app
from gateway.clients import connect
from gateway.main import MULTIPROCESS_DIR_VARIABLE, prepare_metrics_dir
from gateway.settings import GatewaySettings
from tests.gateway.multiprocess import (
    LIVE_REQUESTS,
    LIVE_SECONDS_COUNT,
    LIVE_SECONDS_FAST_BUCKET,
    WORKERS,
    collect_directory,
    parse_exposition,
    run_recording_process,
)


async def test_single_process_counts_requests() -> None:
    settings = GatewaySettings(
        auth_address=f"127.0.0.1:{free_port()}",
        connectors_address=f"127.0.0.1:{free_port()}",
        rag_address=f"127.0.0.1:{free_port()}",
    )
    app = create_app(settings)
    app.state.clients = connect(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://gateway.test"
    ) as client:
        before = parse_exposition((await client.get("/metrics")).text)
        for _ in range(3):
            assert (await client.get("/health/live")).status_code == 200
        after = parse_exposition((await client.get("/v1/metrics")).text)
    await app.state.clients.close()
    assert after[LIVE_REQUESTS] - before.get(LIVE_REQUESTS, 0.0) == 3
    assert after[LIVE_SECONDS_COUNT] - before.get(LIVE_SECONDS_COUNT, 0.0) == 3


def test_multiprocess_sums_exited_workers(tmp_path: Path) -> None:
    run_recording_process(tmp_path, 3)
    run_recording_process(tmp_path, 4)
    samples = collect_directory(tmp_path)
    assert samples[LIVE_REQUESTS] == 7
    assert samples[LIVE_SECONDS_COUNT] == 7
    assert samples[LIVE_SECONDS_FAST_BUCKET] == 7


def test_stopped_worker_marked_dead(tmp_path: Path) -> None:
    pid = run_recording_process(tmp_path, 1)
    assert not list(tmp_path.glob(f"gauge_live*_{pid}.db"))
    assert collect_directory(tmp_path).get(WORKERS, 0.0) == 0


def test_killed_worker_marked_dead_on_scrape(tmp_path: Path) -> None:
    pid = run_recording_process(tmp_path, 2, ending="killed")
    assert collect_directory(tmp_path)[WORKERS] == 1
    assert metrics.mark_dead_workers(str(tmp_path)) == [pid]
    samples = collect_directory(tmp_path)
    assert samples.get(WORKERS, 0.0) == 0
    assert samples[LIVE_REQUESTS] == 2


def test_prepare_empties_only_metric_files(tmp_path: Path) -> None:
    run_recording_process(tmp_path, 5)
    keep = tmp_path / "notes.txt"
    keep.write_text("not a metrics file")
    settings = GatewaySettings(prometheus_multiproc_dir=tmp_path, workers=4)
    assert prepare_metrics_dir(settings) == tmp_path
    assert not list(tmp_path.glob("*.db"))
    assert keep.exists()


def test_prepare_creates_missing_directory(tmp_path: Path) -> None:
    directory = tmp_path / "metrics" / "gateway"
    settings = GatewaySettings(prometheus_multiproc_dir=directory)
    assert prepare_metrics_dir(settings) == directory
    assert directory.is_dir()


def test_prepare_single_worker_without_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MULTIPROCESS_DIR_VARIABLE, "unset below")
    monkeypatch.delenv(MULTIPROCESS_DIR_VARIABLE)
    assert prepare_metrics_dir(GatewaySettings(workers=1)) is None
    assert MULTIPROCESS_DIR_VARIABLE not in os.environ


def test_prepare_workers_create_temporary_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MULTIPROCESS_DIR_VARIABLE, "unset below")
    monkeypatch.delenv(MULTIPROCESS_DIR_VARIABLE)
    directory = prepare_metrics_dir(GatewaySettings(workers=2))
    assert directory is not None
    assert directory.is_dir()
    assert os.environ[MULTIPROCESS_DIR_VARIABLE] == str(directory)
    directory.rmdir()


def test_workers_setting_rejects_zero() -> None:
    with pytest.raises(ValueError, match="workers"):
        GatewaySettings(workers=0)
