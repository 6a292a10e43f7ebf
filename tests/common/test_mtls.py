"""Mutual TLS on the gRPC servers and channels, with certificates made here."""

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import ValidationError

from devstack.processes import free_port
from services.common.grpc_client import create_channel
from services.common.grpc_server import (
    add_health_and_reflection,
    create_server,
    start_probe_server,
)
from services.common.settings import CommonSettings
from services.common.tls import TlsFiles

SECRET = "mtls-test-secret-of-enough-length"
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _authority(folder: Path, name: str) -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
        "-subj", f"/CN={name}",
    )  # fmt: skip
    return key, cert


def _signed(folder: Path, name: str, authority: tuple[Path, Path]) -> TlsFiles:
    """Make a key and a certificate for 127.0.0.1 signed by authority."""
    key, request, cert = (folder / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
    extensions = folder / f"{name}.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(request), "-subj", f"/CN={name}",
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(authority[1]),
        "-CAkey", str(authority[0]), "-CAcreateserial", "-out", str(cert),
        "-days", "1", "-extfile", str(extensions),
    )  # fmt: skip
    return TlsFiles(cert=cert, key=key, ca=authority[1])


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TlsFiles]:
    folder = tmp_path_factory.mktemp("pki")
    ours, theirs = _authority(folder, "ours"), _authority(folder, "theirs")
    return {
        "server": _signed(folder, "server", ours),
        "client": _signed(folder, "client", ours),
        "stranger": _signed(folder, "stranger", theirs),
    }


@pytest.fixture
async def address(certificates: dict[str, TlsFiles]) -> AsyncIterator[str]:
    server = create_server(SECRET, MAX_MESSAGE_BYTES)
    add_health_and_reflection(server, [])
    port = server.add_secure_port(
        "127.0.0.1:0", certificates["server"].server_credentials()
    )
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(None)


async def _check(channel: grpc.aio.Channel) -> int:
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=3)
        return int(reply.status)


async def test_client_with_our_certificate_is_served(
    address: str, certificates: dict[str, TlsFiles]
) -> None:
    channel = create_channel(address, MAX_MESSAGE_BYTES, certificates["client"])

    assert await _check(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_other_clients_are_rejected(
    address: str, certificates: dict[str, TlsFiles]
) -> None:
    ca = certificates["client"].ca.read_bytes()
    without_certificate = grpc.aio.secure_channel(
        address, grpc.ssl_channel_credentials(root_certificates=ca)
    )
    stranger = create_channel(address, MAX_MESSAGE_BYTES, certificates["stranger"])
    plain = grpc.aio.insecure_channel(address)

    for channel in (without_certificate, stranger, plain):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await _check(channel)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_probe_port_serves_health_without_tls(
    certificates: dict[str, TlsFiles],
) -> None:
    server = create_server(SECRET, MAX_MESSAGE_BYTES)
    health = add_health_and_reflection(server, [])
    server.add_secure_port("127.0.0.1:0", certificates["server"].server_credentials())
    await server.start()
    port = free_port()
    probes = await start_probe_server(health, port)
    try:
        status = await _check(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
    finally:
        await probes.stop(None)
        await server.stop(None)

    assert status == health_pb2.HealthCheckResponse.SERVING


def test_settings_need_all_three_files_or_none(tmp_path: Path) -> None:
    none = CommonSettings.model_validate({})
    everything = CommonSettings.model_validate(
        {
            "GRPC_TLS_CERT_FILE": tmp_path / "c.pem",
            "GRPC_TLS_KEY_FILE": tmp_path / "c.key",
            "GRPC_TLS_CA_FILE": tmp_path / "ca.pem",
        }
    )

    assert none.tls_files() is None
    assert everything.tls_files() == TlsFiles(
        tmp_path / "c.pem", tmp_path / "c.key", tmp_path / "ca.pem"
    )
    with pytest.raises(ValidationError, match="GRPC_TLS_CA_FILE"):
        CommonSettings.model_validate({"GRPC_TLS_CERT_FILE": tmp_path / "c.pem"})
