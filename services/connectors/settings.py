"""Settings of the connectors service."""

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import CommonSettings


class ConnectorsSettings(CommonSettings):
    """Listen address, sync leases and the source systems' credentials.

    The source credentials keep the names the operators' runbook uses
    (`CHATWOOT_BASE_URL` and so on); everything else takes the `CONNECTORS_`
    prefix.
    """

    model_config = SettingsConfigDict(env_prefix="CONNECTORS_", extra="ignore")

    listen_address: str = "127.0.0.1:50051"
    # A run's lease lasts this long past its last heartbeat; a run whose
    # process died is taken over (marked abandoned) once it expires.
    lease_seconds: float = 60.0
    heartbeat_seconds: float = 10.0
    http_timeout_seconds: float = 30.0
    http_max_attempts: int = 5
    http_backoff_base_seconds: float = 1.0
    http_backoff_max_seconds: float = 30.0
    # Incremental Chatwoot syncs ask for conversations updated since the last
    # run minus this overlap, so clock skew and in-flight writes are not missed.
    chatwoot_overlap_seconds: float = 120.0
    # Linear passes ask for issues updated since the last pass started, less
    # this overlap.
    linear_overlap_seconds: float = 300.0
    # Failed pages and records are retried after exponential backoff with
    # jitter, and become dead letters after error_max_attempts.
    error_backoff_base_seconds: float = 30.0
    error_backoff_max_seconds: float = 3600.0
    error_max_attempts: int = 5
    # How often the service looks for errors whose retry time has come.
    error_retry_interval_seconds: float = 15.0
    # Cadence of each project's scheduled incremental sync per connector.
    sync_interval_seconds: float = 900.0
    # The RAG service, whose indexing job a finished sync makes due.
    rag_address: str = "127.0.0.1:50052"
    reconcile_address: str = "127.0.0.1:50054"
    rpc_timeout_seconds: float = 10.0

    chatwoot_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("CHATWOOT_BASE_URL")
    )
    chatwoot_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("CHATWOOT_API_TOKEN")
    )
    chatwoot_account_id: int | None = Field(
        default=None, validation_alias=AliasChoices("CHATWOOT_ACCOUNT_ID")
    )

    linear_api_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LINEAR_API_URL")
    )
    linear_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LINEAR_API_KEY")
    )
    attio_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("ATTIO_BASE_URL")
    )
    attio_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("ATTIO_API_TOKEN")
    )
