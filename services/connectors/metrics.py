"""The connectors' figures for monitoring: errors, sync lag, runs in progress."""

import asyncpg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.common.metrics import Gather


def gather_for(pool: asyncpg.Pool) -> Gather:
    """Return the function that computes the connectors' figures from the database."""

    async def gather() -> list[Metric]:
        errors = GaugeMetricFamily(
            "connector_errors",
            "Connector errors by connector, kind and status (dead_letter included).",
            labels=["connector", "kind", "status"],
        )
        lag = GaugeMetricFamily(
            "connector_sync_lag_seconds",
            "Seconds since the oldest last successful sync of a connector, over"
            " the projects that have synced it.",
            labels=["connector"],
        )
        running = GaugeMetricFamily(
            "connector_sync_runs_running",
            "Sync runs holding a live lease, by connector.",
            labels=["connector"],
        )
        async with pool.acquire() as conn:
            for row in await conn.fetch(
                "SELECT connector, kind, status, count(*) AS n"
                " FROM connectors.connector_errors GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            ):
                errors.add_metric(
                    [row["connector"], row["kind"], row["status"]], row["n"]
                )
            for row in await conn.fetch(
                "SELECT connector, max(extract(epoch FROM now() - last_success_at))"
                " AS lag FROM connectors.connector_sync_state"
                " WHERE last_success_at IS NOT NULL GROUP BY 1 ORDER BY 1"
            ):
                lag.add_metric([row["connector"]], float(row["lag"]))
            for row in await conn.fetch(
                "SELECT connector, count(*) AS n FROM connectors.sync_runs"
                " WHERE status = 'running' AND lease_expires_at > now()"
                " GROUP BY 1 ORDER BY 1"
            ):
                running.add_metric([row["connector"]], row["n"])
        return [errors, lag, running]

    return gather
