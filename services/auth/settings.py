"""Settings of the auth service."""

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.common.settings import CommonSettings

DEV_CSRF_SECRET = "dev-only-csrf-secret-change-me"


class AuthSettings(CommonSettings):
    """Listen address, bootstrap owner, sessions, login throttling and the CSRF key."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore")

    listen_address: str = "127.0.0.1:50053"

    # With a password set, the first start creates this user as owner of a new
    # project. A user that already exists keeps its password.
    owner_username: str = "owner"
    owner_password: SecretStr | None = None
    owner_project_name: str = "Default"

    # A session ends after this long without a request, and at the latest
    # this long after login, whichever comes first.
    session_idle_seconds: int = Field(default=8 * 3600, gt=0)
    session_absolute_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    # Revoked and expired sessions are deleted this often.
    session_cleanup_interval_seconds: float = Field(default=3600.0, gt=0)

    # Logins are rejected once a user name has this many failures, or a client
    # address this many, within the window. A successful login clears the
    # user name's failures.
    login_max_failures_per_username: int = Field(default=5, gt=0)
    login_max_failures_per_address: int = Field(default=20, gt=0)
    login_failure_window_seconds: int = Field(default=15 * 60, gt=0)

    # Key of the HMAC that derives each session's CSRF token. Production must
    # set AUTH_CSRF_SECRET to a private random value because this default is
    # public. Changing the secret invalidates every CSRF token already issued.
    csrf_secret: SecretStr = SecretStr(DEV_CSRF_SECRET)

    @model_validator(mode="after")
    def _check_session_lifetimes(self) -> "AuthSettings":
        if self.session_idle_seconds > self.session_absolute_seconds:
            raise ValueError(
                "AUTH_SESSION_IDLE_SECONDS must not exceed"
                " AUTH_SESSION_ABSOLUTE_SECONDS"
            )
        return self

    @property
    def csrf_secret_is_default(self) -> bool:
        return self.csrf_secret.get_secret_value() == DEV_CSRF_SECRET
