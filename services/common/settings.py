"""Settings every service shares; each service extends them with its own prefix."""

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.tls import TlsSettings


class CommonSettings(BaseSettings, TlsSettings):
    """Database, internal token and telemetry settings read from the environment."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL")
    )
    data_dir: Path = Field(
        default=Path("var"), validation_alias=AliasChoices("OPSDESK_DATA_DIR")
    )
    internal_token_secret: SecretStr = Field(
        default=SecretStr("dev-only-internal-token-secret-change-me"),
        validation_alias=AliasChoices("INTERNAL_TOKEN_SECRET"),
    )
    log_format: str = Field(default="console", validation_alias="LOG_FORMAT")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    db_pool_min_size: int = 1
    db_pool_max_size: int = 10
    # asyncpg's statement cache breaks behind PgBouncer in transaction mode;
    # set 0 there. Direct connections keep the cache.
    db_statement_cache_size: int = Field(
        default=100, validation_alias=AliasChoices("DB_STATEMENT_CACHE_SIZE")
    )
    grpc_max_message_bytes: int = 32 * 1024 * 1024
    shutdown_grace_seconds: float = 10.0
    # Port of the HTTP endpoint where Prometheus scrapes this service's
    # figures; unset serves them only to the gateway over gRPC.
    metrics_port: int | None = Field(default=None, validation_alias="METRICS_PORT")
    # Plain-text port that serves only the gRPC health service, for probes
    # that cannot present a client certificate once mutual TLS is on.
    health_port: int | None = Field(default=None, validation_alias="HEALTH_PORT")
