"""Settings of the reconcile service."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import CommonSettings


class ReconcileSettings(CommonSettings):
    """Listen address, the services it calls, thresholds and limits."""

    model_config = SettingsConfigDict(env_prefix="RECONCILE_", extra="ignore")

    listen_address: str = "127.0.0.1:50054"
    connectors_address: str = "127.0.0.1:50051"
    auth_address: str = "127.0.0.1:50053"
    rpc_timeout_seconds: float = 30.0
    # Listing a large source can take minutes; this bounds one whole stream.
    list_timeout_seconds: float = 1800.0
    # Cadence of each project's scheduled reconciliation; a finished sync
    # also makes it due.
    interval_seconds: float = 3600.0
    # Completeness under this share writes a warning audit event.
    warning_threshold: float = 0.99
    # Findings of each kind kept as samples per connector and entity.
    sample_size: int = 20
    # Maximum number of ids one repair requests a connector to fetch again.
    repair_max_ids: int = 1000
    # How long a repair waits for the syncs it started.
    repair_wait_seconds: float = 300.0
    trend_days: int = 14
