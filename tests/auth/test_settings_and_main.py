import asyncpg
import grpc
import pytest
from pydantic import ValidationError

from services.auth import main
from services.auth.settings import AuthSettings
from services.common.grpc_server import create_server
from tests.auth.helpers import TOKEN_SECRET

AUTH_VARIABLES = (
    "AUTH_LISTEN_ADDRESS",
    "AUTH_OWNER_USERNAME",
    "AUTH_OWNER_PASSWORD",
    "AUTH_OWNER_PROJECT_NAME",
    "AUTH_SESSION_IDLE_SECONDS",
    "AUTH_SESSION_ABSOLUTE_SECONDS",
    "AUTH_CSRF_SECRET",
)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(clean_environment: pytest.MonkeyPatch) -> None:
    settings = AuthSettings()

    assert settings.listen_address == "127.0.0.1:50053"
    assert settings.owner_username == "owner"
    assert settings.owner_password is None
    assert settings.owner_project_name == "Default"
    assert settings.session_idle_seconds == 8 * 3600
    assert settings.session_absolute_seconds == 7 * 24 * 3600
    assert settings.csrf_secret_is_default


def test_environment_uses_auth_prefix(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("AUTH_OWNER_PASSWORD", "pw")
    clean_environment.setenv("AUTH_SESSION_IDLE_SECONDS", "600")
    clean_environment.setenv("AUTH_CSRF_SECRET", "a-private-value")

    settings = AuthSettings()

    assert settings.owner_password is not None
    assert settings.owner_password.get_secret_value() == "pw"
    assert settings.session_idle_seconds == 600
    assert not settings.csrf_secret_is_default
    assert "a-private-value" not in repr(settings)


def test_idle_longer_than_absolute_is_rejected(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="AUTH_SESSION_IDLE_SECONDS"):
        AuthSettings(session_idle_seconds=100, session_absolute_seconds=50)


async def test_register_adds_service_and_bootstraps_owner(
    auth_pool: asyncpg.Pool, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("AUTH_OWNER_PASSWORD", "pw")
    spec = main.build_spec(AuthSettings())
    server: grpc.aio.Server = create_server(TOKEN_SECRET, 4 * 1024 * 1024)

    names = await spec.register(server, auth_pool)
    for stop in spec.on_shutdown:
        await stop()

    assert spec.name == "auth"
    assert spec.schema == "auth"
    assert list(names) == [
        "auth.v1.AuthService",
        "scheduler.v1.SchedulerService",
        "metrics.v1.MetricsService",
    ]
    cleanup = await auth_pool.fetchval("SELECT job_type FROM auth.scheduled_jobs")
    assert cleanup == "session_cleanup"
    owner = await auth_pool.fetchval("SELECT username FROM auth.users")
    assert owner == "owner"
