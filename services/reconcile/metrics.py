"""The reconcile service's figures: completeness, missing and duplicates."""

import asyncpg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.common.metrics import Gather

# The latest figures of each project, summed per connector and entity.
# /metrics is read without a session, so no series names a project; the
# figures of one project are behind GET /connectors/reconciliation.
_LATEST = """
SELECT connector, entity,
    count(*) FILTER (WHERE status <> 'ok') AS failed,
    sum(source_count) FILTER (WHERE status = 'ok') AS source,
    sum(current_count) FILTER (WHERE status = 'ok') AS current,
    sum(missing_in_raw) FILTER (WHERE status = 'ok') AS missing_in_raw,
    sum(missing_in_mirror) FILTER (WHERE status = 'ok') AS missing_in_mirror,
    sum(duplicates) FILTER (WHERE status = 'ok') AS duplicates,
    sum(orphans) FILTER (WHERE status = 'ok') AS orphans,
    sum(stale) FILTER (WHERE status = 'ok') AS stale,
    max(extract(epoch FROM measured_at)) AS measured
FROM (
    SELECT DISTINCT ON (project_id, connector, entity) *
    FROM reconcile.sync_reconciliation_metrics
    ORDER BY project_id, connector, entity, measured_at DESC, id DESC
) latest
GROUP BY connector, entity ORDER BY connector, entity
"""


def gather_for(pool: asyncpg.Pool) -> Gather:
    """Return the function that computes the reconciliation figures."""

    async def gather() -> list[Metric]:
        labels = ["connector", "entity"]
        completeness = GaugeMetricFamily(
            "reconciliation_completeness",
            "Share of source records present and current locally, latest run.",
            labels=labels,
        )
        missing = GaugeMetricFamily(
            "reconciliation_missing",
            "Records missing locally in the latest run, by where they are missing.",
            labels=[*labels, "where"],
        )
        duplicates = GaugeMetricFamily(
            "reconciliation_duplicates",
            "Repeated references and contacts under several ids, latest run.",
            labels=labels,
        )
        orphans = GaugeMetricFamily(
            "reconciliation_orphans",
            "Local records the source no longer has, latest run.",
            labels=labels,
        )
        stale = GaugeMetricFamily(
            "reconciliation_stale",
            "Local records older than the source's, latest run.",
            labels=labels,
        )
        failed = GaugeMetricFamily(
            "reconciliation_failed",
            "Projects whose latest measurement failed (a source down, a bad token).",
            labels=labels,
        )
        measured = GaugeMetricFamily(
            "reconciliation_last_run_timestamp_seconds",
            "When the figures of a connector and entity were last measured.",
            labels=labels,
        )
        async with pool.acquire() as conn:
            rows = await conn.fetch(_LATEST)
        for row in rows:
            key = [row["connector"], row["entity"]]
            measured.add_metric(key, float(row["measured"]))
            failed.add_metric(key, row["failed"])
            if row["source"] is None:
                continue
            share = row["current"] / row["source"] if row["source"] else 1.0
            completeness.add_metric(key, share)
            missing.add_metric([*key, "raw"], row["missing_in_raw"])
            missing.add_metric([*key, "mirror"], row["missing_in_mirror"])
            duplicates.add_metric(key, row["duplicates"])
            orphans.add_metric(key, row["orphans"])
            stale.add_metric(key, row["stale"])
        return [completeness, missing, duplicates, orphans, stale, failed, measured]

    return gather
