"""The whole stack on one machine: Postgres, three services, gateway and fakes."""

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import (
    ProcessGroup,
    free_port,
    require_free,
    wait_for_health,
    wait_for_port,
)
from services.common.database import start_embedded_postgres, stop_embedded_postgres

CHATWOOT_ACCOUNT_ID = 1
# The option each fake's command line takes its secret with.
SECRET_OPTIONS = {"chatwoot": "--token", "linear": "--api-key", "attio": "--token"}


@dataclass
class FakeSource:
    """One fake source API: its port, the data sets it serves and its secret."""

    port: int
    data: list[str] = field(default_factory=lambda: ["demo"])
    data_dir: Path | None = None
    limit: int | None = None
    secret: str = field(default_factory=lambda: secrets.token_hex(16))


def _default_fakes() -> dict[str, FakeSource]:
    return {
        "chatwoot": FakeSource(3001),
        "linear": FakeSource(3002),
        "attio": FakeSource(3003),
    }


SERVICES = ("auth", "connectors", "rag", "reconcile")


@dataclass
class StackConfig:
    """Ports, data and credentials of one local stack."""

    data_dir: Path
    log_dir: Path
    database_url: str | None = None
    gateway_port: int = 8080
    service_ports: dict[str, int] = field(
        default_factory=lambda: {
            "connectors": 50051,
            "rag": 50052,
            "auth": 50053,
            "reconcile": 50054,
        }
    )
    fakes: dict[str, FakeSource] = field(default_factory=_default_fakes)
    owner_username: str = "owner"
    owner_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    internal_token_secret: str = field(
        default_factory=lambda: secrets.token_urlsafe(32)
    )
    extra_env: dict[str, str] = field(default_factory=dict)
    # Processes per service; each replica listens on its own port and the
    # gateway and services spread their calls over all of them.
    replicas: int = 1
    # Ports of the replicas after the first; unset ones are 10 apart.
    replica_ports: dict[str, list[int]] = field(default_factory=dict)

    def ports_of(self, service: str) -> list[int]:
        """Return the port of each replica of service, the first one first."""
        ports = [self.service_ports[service]]
        extra = self.replica_ports.get(service, [])
        for index in range(1, self.replicas):
            chosen = extra[index - 1] if index <= len(extra) else None
            ports.append(chosen or ports[0] + 10 * index)
        return ports

    @classmethod
    def on_free_ports(
        cls, data_dir: Path, log_dir: Path, **kwargs: object
    ) -> "StackConfig":
        """Build a config on ports that were free when chosen, for tests.

        `fakes` may name the data of each fake; their ports are chosen here.
        """
        ports = {name: free_port() for name in SERVICES}
        replicas = int(kwargs.get("replicas", 1))  # type: ignore[call-overload]
        replica_ports = {
            name: [free_port() for _ in range(replicas - 1)] for name in SERVICES
        }
        fakes: dict[str, FakeSource] = kwargs.pop("fakes", None) or _default_fakes()  # type: ignore[assignment]
        for fake in fakes.values():
            fake.port = free_port()
        return cls(
            data_dir=data_dir,
            log_dir=log_dir,
            gateway_port=free_port(),
            service_ports=ports,
            replica_ports=replica_ports,
            fakes=fakes,
            **kwargs,  # type: ignore[arg-type]
        )


@dataclass
class RunningStack:
    config: StackConfig
    group: ProcessGroup
    database_url: str

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.gateway_port}"

    def fake_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.config.fakes[name].port}"

    def stop(self) -> None:
        """Stop every process, and the embedded Postgres when this stack started it."""
        self.group.stop()
        if self.config.database_url is None:
            stop_embedded_postgres(self.config.data_dir)


def _addresses(config: StackConfig) -> dict[str, str]:
    """Return each service's gRPC target; several replicas make a list of them."""
    targets = {}
    for name in SERVICES:
        ports = config.ports_of(name)
        if len(ports) == 1:
            targets[name] = f"127.0.0.1:{ports[0]}"
        else:
            targets[name] = "ipv4:" + ",".join(f"127.0.0.1:{p}" for p in ports)
    return targets


def _common_env(config: StackConfig, database_url: str) -> dict[str, str]:
    addresses = _addresses(config)
    return {
        "DATABASE_URL": database_url,
        "INTERNAL_TOKEN_SECRET": config.internal_token_secret,
        "OPSDESK_DATA_DIR": str(config.data_dir),
        "RAG_CONNECTORS_ADDRESS": addresses["connectors"],
        "CONNECTORS_RAG_ADDRESS": addresses["rag"],
        "CONNECTORS_RECONCILE_ADDRESS": addresses["reconcile"],
        "RECONCILE_CONNECTORS_ADDRESS": addresses["connectors"],
        "RECONCILE_AUTH_ADDRESS": addresses["auth"],
        "AUTH_OWNER_USERNAME": config.owner_username,
        "AUTH_OWNER_PASSWORD": config.owner_password,
        "GATEWAY_PORT": str(config.gateway_port),
        "GATEWAY_AUTH_ADDRESS": addresses["auth"],
        "GATEWAY_CONNECTORS_ADDRESS": addresses["connectors"],
        "GATEWAY_RAG_ADDRESS": addresses["rag"],
        "GATEWAY_RECONCILE_ADDRESS": addresses["reconcile"],
        **_source_env(config),
        **config.extra_env,
    }


def _source_env(config: StackConfig) -> dict[str, str]:
    """Return the source settings that point the connectors service at the fakes."""
    env = {}
    fakes = config.fakes
    if "chatwoot" in fakes:
        env["CHATWOOT_BASE_URL"] = f"http://127.0.0.1:{fakes['chatwoot'].port}"
        env["CHATWOOT_API_TOKEN"] = fakes["chatwoot"].secret
        env["CHATWOOT_ACCOUNT_ID"] = str(CHATWOOT_ACCOUNT_ID)
    if "linear" in fakes:
        env["LINEAR_API_URL"] = f"http://127.0.0.1:{fakes['linear'].port}/graphql"
        env["LINEAR_API_KEY"] = fakes["linear"].secret
    if "attio" in fakes:
        env["ATTIO_BASE_URL"] = f"http://127.0.0.1:{fakes['attio'].port}"
        env["ATTIO_API_TOKEN"] = fakes["attio"].secret
    return env


def _fake_args(name: str, fake: FakeSource) -> list[str]:
    args = ["-m", f"fakes.{name}", "--port", str(fake.port)]
    args += [SECRET_OPTIONS[name], fake.secret]
    if name == "chatwoot":
        args += ["--account-id", str(CHATWOOT_ACCOUNT_ID)]
    for source in fake.data:
        args += ["--data", source]
    if fake.data_dir is not None:
        args += ["--data-dir", str(fake.data_dir)]
    if fake.limit is not None:
        args += ["--limit", str(fake.limit)]
    return args


def _start_replicas(
    group: ProcessGroup, config: StackConfig, service: str, env: dict[str, str]
) -> None:
    """Start each replica of service, listening on its own port."""
    listen = f"{service.upper()}_LISTEN_ADDRESS"
    for index, port in enumerate(config.ports_of(service)):
        name = service if index == 0 else f"{service}-{index + 1}"
        replica_env = {**env, listen: f"127.0.0.1:{port}"}
        group.start(name, ["-m", f"services.{service}.main"], replica_env)


def start_stack(config: StackConfig, *, timeout_seconds: float = 120.0) -> RunningStack:
    """Start every process and wait until the gateway reports every service healthy."""
    fake_ports = [fake.port for fake in config.fakes.values()]
    service_ports = [port for name in SERVICES for port in config.ports_of(name)]
    ports = [config.gateway_port, *fake_ports, *service_ports]
    for port in ports:
        require_free(port)
    database_url = config.database_url or start_embedded_postgres(config.data_dir)
    env = _common_env(config, database_url)
    group = ProcessGroup(config.log_dir)
    try:
        for name, fake in config.fakes.items():
            group.start(f"{name}-fake", _fake_args(name, fake), env)
        for service in SERVICES:
            _start_replicas(group, config, service, env)
        group.start("gateway", ["-m", "gateway.main"], env)
        for port in fake_ports:
            wait_for_port(group, port, timeout_seconds)
        wait_for_health(
            group, f"http://127.0.0.1:{config.gateway_port}", timeout_seconds
        )
    except BaseException:
        group.stop()
        raise
    return RunningStack(config, group, database_url)
