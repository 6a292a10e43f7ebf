"""Settings of the REST gateway."""

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.common.tls import TlsSettings


class GatewaySettings(BaseSettings, TlsSettings):
    """Service addresses, cookies, CORS, limits and legacy routes of the gateway."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    # Uvicorn worker processes. More than one needs the metrics directory below,
    # and gateway.main creates a temporary one when it is unset.
    workers: int = Field(default=1, ge=1)
    auth_address: str = "127.0.0.1:50053"
    connectors_address: str = "127.0.0.1:50051"
    rag_address: str = "127.0.0.1:50052"
    reconcile_address: str = "127.0.0.1:50054"
    rpc_timeout_seconds: float = 30.0
    # Embeddings runs and syncs of large sources take longer than a query.
    long_rpc_timeout_seconds: float = 900.0
    max_request_body_bytes: int = 1024 * 1024
    grpc_max_message_bytes: int = 32 * 1024 * 1024
    # Set when the UI is served over HTTPS: cookies get Secure and the
    # __Host- prefix, which binds them to this exact host.
    secure_cookies: bool = False

    internal_token_secret: SecretStr = Field(
        default=SecretStr("dev-only-internal-token-secret-change-me"),
        validation_alias=AliasChoices("INTERNAL_TOKEN_SECRET"),
    )
    # Comma-separated in the environment; NoDecode keeps pydantic-settings
    # from parsing the value as JSON before _split_origins splits it.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="CORS_ORIGIN"
    )
    lightrag_only: bool = Field(default=True, validation_alias="LIGHTRAG_ONLY")
    log_format: str = Field(default="console", validation_alias="LOG_FORMAT")
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    # The variable prometheus_client reads. When it is set, every process writes
    # its samples to files in this directory and a scrape sums them.
    prometheus_multiproc_dir: Path | None = Field(
        default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR"
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _reject_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            raise ValueError(
                "CORS_ORIGIN must list exact origins; '*' would let any site make"
                " credentialed requests"
            )
        return value

    @property
    def session_cookie(self) -> str:
        return "__Host-opsdesk_session" if self.secure_cookies else "opsdesk_session"

    @property
    def csrf_cookie(self) -> str:
        return "__Host-opsdesk_csrf" if self.secure_cookies else "opsdesk_csrf"
