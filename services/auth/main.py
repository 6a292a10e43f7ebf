"""Entry point of the auth service: wiring only."""

import asyncio
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import grpc
import structlog

from gen.auth.v1 import auth_pb2, auth_pb2_grpc
from services.auth import metrics as auth_metrics
from services.auth.bootstrap import bootstrap_owner_from_settings
from services.auth.grpc_api import AuthServicer
from services.auth.session_cleanup import CLEANUP_JOB, purge_job
from services.auth.sessions import SessionConfig
from services.auth.settings import AuthSettings
from services.auth.throttle import ThrottlePolicy
from services.common.metrics import install_metrics
from services.common.runtime import ServiceSpec, run_service
from services.common.scheduler import Scheduler
from services.common.scheduler_api import install_scheduler

log = structlog.get_logger(__name__)

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def session_config(settings: AuthSettings) -> SessionConfig:
    """Build the session lifetimes and the CSRF key from settings."""
    return SessionConfig(
        idle_seconds=settings.session_idle_seconds,
        absolute_seconds=settings.session_absolute_seconds,
        csrf_secret=settings.csrf_secret.get_secret_value(),
    )


def throttle_policy(settings: AuthSettings) -> ThrottlePolicy:
    """Build the login throttling limits from settings."""
    return ThrottlePolicy(
        max_failures_per_username=settings.login_max_failures_per_username,
        max_failures_per_address=settings.login_max_failures_per_address,
        window_seconds=settings.login_failure_window_seconds,
    )


def build_spec(settings: AuthSettings) -> ServiceSpec:
    async def register(server: grpc.aio.Server, pool: asyncpg.Pool) -> Sequence[str]:
        if settings.csrf_secret_is_default:
            log.warning("auth.csrf_secret_default", setting="AUTH_CSRF_SECRET")
        policy = throttle_policy(settings)
        servicer = AuthServicer(pool, session_config(settings), policy)
        # The generated registration function carries no annotations.
        auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
        await bootstrap_owner_from_settings(pool, settings)
        scheduler = Scheduler(pool, "auth", {CLEANUP_JOB: purge_job(pool, policy)})
        scheduler_name = await install_scheduler(
            server,
            spec.on_shutdown,
            scheduler,
            service="auth",
            ensure_project=_no_project_jobs,
            service_wide={CLEANUP_JOB: settings.session_cleanup_interval_seconds},
        )
        metrics_name = install_metrics(
            server, auth_metrics.gather_for(pool), settings.metrics_port
        )
        return [SERVICE_NAME, scheduler_name, metrics_name]

    spec = ServiceSpec(
        name="auth",
        schema="auth",
        migrations_dir=MIGRATIONS_DIR,
        register=register,
        listen_address=settings.listen_address,
    )
    return spec


async def _no_project_jobs(project_id: str) -> None:
    """Auth has no per-project jobs."""


def main() -> None:
    settings = AuthSettings()
    asyncio.run(run_service(build_spec(settings), settings))


if __name__ == "__main__":
    main()
