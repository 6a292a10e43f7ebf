"""The auth service's figures: live sessions and audit events by status."""

import asyncpg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.common.metrics import Gather


def gather_for(pool: asyncpg.Pool) -> Gather:
    """Return the function that computes the auth figures from the database."""

    async def gather() -> list[Metric]:
        sessions = GaugeMetricFamily(
            "auth_sessions_live", "Sessions neither revoked nor expired."
        )
        events = CounterMetricFamily(
            "audit_events",
            "Audit events by action and status (ok, failed, warning).",
            labels=["action", "status"],
        )
        async with pool.acquire() as conn:
            live = await conn.fetchval(
                "SELECT count(*) FROM auth.sessions WHERE revoked_at IS NULL"
                " AND idle_expires_at > now() AND absolute_expires_at > now()"
            )
            sessions.add_metric([], live)
            for row in await conn.fetch(
                "SELECT action, status, count(*) AS n FROM auth.audit_events"
                " GROUP BY 1, 2 ORDER BY 1, 2"
            ):
                events.add_metric([row["action"], row["status"]], row["n"])
        return [sessions, events]

    return gather
