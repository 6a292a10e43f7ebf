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


@dataclass
class StackConfig:
    """Ports, data and credentials of one local stack."""

    data_dir: Path
    log_dir: Path
    database_url: str | None = None
    gateway_port: int = 8080
    chatwoot_port: int = 3001
    service_ports: dict[str, int] = field(
        default_factory=lambda: {"connectors": 50051, "rag": 50052, "auth": 50053}
    )
    chatwoot_data: list[str] = field(default_factory=lambda: ["demo"])
    chatwoot_data_dir: Path | None = None
    chatwoot_limit: int | None = None
    owner_username: str = "owner"
    owner_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    chatwoot_token: str = field(default_factory=lambda: secrets.token_hex(16))
    internal_token_secret: str = field(
        default_factory=lambda: secrets.token_urlsafe(32)
    )
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def on_free_ports(
        cls, data_dir: Path, log_dir: Path, **kwargs: object
    ) -> "StackConfig":
        """Build a config on ports that were free when chosen, for tests."""
        ports = {name: free_port() for name in ("connectors", "rag", "auth")}
        return cls(
            data_dir=data_dir,
            log_dir=log_dir,
            gateway_port=free_port(),
            chatwoot_port=free_port(),
            service_ports=ports,
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

    @property
    def chatwoot_url(self) -> str:
        return f"http://127.0.0.1:{self.config.chatwoot_port}"

    def stop(self) -> None:
        """Stop every process, and the embedded Postgres when this stack started it."""
        self.group.stop()
        if self.config.database_url is None:
            stop_embedded_postgres(self.config.data_dir)


def _addresses(config: StackConfig) -> dict[str, str]:
    return {name: f"127.0.0.1:{port}" for name, port in config.service_ports.items()}


def _common_env(config: StackConfig, database_url: str) -> dict[str, str]:
    addresses = _addresses(config)
    return {
        "DATABASE_URL": database_url,
        "INTERNAL_TOKEN_SECRET": config.internal_token_secret,
        "OPSDESK_DATA_DIR": str(config.data_dir),
        "CONNECTORS_LISTEN_ADDRESS": addresses["connectors"],
        "RAG_LISTEN_ADDRESS": addresses["rag"],
        "RAG_CONNECTORS_ADDRESS": addresses["connectors"],
        "AUTH_LISTEN_ADDRESS": addresses["auth"],
        "AUTH_OWNER_USERNAME": config.owner_username,
        "AUTH_OWNER_PASSWORD": config.owner_password,
        "GATEWAY_PORT": str(config.gateway_port),
        "GATEWAY_AUTH_ADDRESS": addresses["auth"],
        "GATEWAY_CONNECTORS_ADDRESS": addresses["connectors"],
        "GATEWAY_RAG_ADDRESS": addresses["rag"],
        "CHATWOOT_BASE_URL": f"http://127.0.0.1:{config.chatwoot_port}",
        "CHATWOOT_API_TOKEN": config.chatwoot_token,
        "CHATWOOT_ACCOUNT_ID": str(CHATWOOT_ACCOUNT_ID),
        **config.extra_env,
    }


def _chatwoot_args(config: StackConfig) -> list[str]:
    args = [
        "-m",
        "fakes.chatwoot",
        "--port",
        str(config.chatwoot_port),
        "--token",
        config.chatwoot_token,
        "--account-id",
        str(CHATWOOT_ACCOUNT_ID),
    ]
    for source in config.chatwoot_data:
        args += ["--data", source]
    if config.chatwoot_data_dir is not None:
        args += ["--data-dir", str(config.chatwoot_data_dir)]
    if config.chatwoot_limit is not None:
        args += ["--limit", str(config.chatwoot_limit)]
    return args


def start_stack(config: StackConfig, *, timeout_seconds: float = 120.0) -> RunningStack:
    """Start every process and wait until the gateway reports every service healthy."""
    ports = [config.gateway_port, config.chatwoot_port, *config.service_ports.values()]
    for port in ports:
        require_free(port)
    database_url = config.database_url or start_embedded_postgres(config.data_dir)
    env = _common_env(config, database_url)
    group = ProcessGroup(config.log_dir)
    try:
        group.start("chatwoot-fake", _chatwoot_args(config), env)
        for service in ("auth", "connectors", "rag"):
            group.start(service, ["-m", f"services.{service}.main"], env)
        group.start("gateway", ["-m", "gateway.main"], env)
        wait_for_port(group, config.chatwoot_port, timeout_seconds)
        wait_for_health(
            group, f"http://127.0.0.1:{config.gateway_port}", timeout_seconds
        )
    except BaseException:
        group.stop()
        raise
    return RunningStack(config, group, database_url)
