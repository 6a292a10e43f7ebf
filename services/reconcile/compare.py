"""Comparing the three sides of one entity inside Postgres, a hash slice at a time.

The scratch table is hash-partitioned by id, so the source, raw and mirror
rows of an id lie in one partition. One statement per partition finds what
is missing, stale, orphaned or repeated there and writes it to the findings
table, so each statement works on a bounded slice and the service keeps only
counts. Findings that look across ids (the same e-mail under
several ids, a deal whose company is missing) are settled after the ranges.
"""

import uuid
from dataclasses import dataclass, field

from services.common.database import Connection
from services.reconcile.catalogue import MIRROR, PARTITIONS, RAW, SOURCE, EntitySpec

KINDS = ("missing_in_raw", "missing_in_mirror", "duplicate", "orphan", "stale")
# Findings that a targeted sync of the connector cannot fix, and why.
UNREPAIRABLE = {
    ("chatwoot/contacts", "orphan"),
    ("chatwoot/messages", "orphan"),
}


@dataclass
class EntityFigures:
    source_count: int = 0
    raw_count: int = 0
    mirror_count: int = 0
    current_count: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    samples: list[dict[str, object]] = field(default_factory=list)

    @property
    def completeness(self) -> float:
        if self.source_count == 0:
            return 1.0
        return self.current_count / self.source_count


# One row per id of the partition with what each side lists for it, so
# every finding below is a filter over one aggregate. A source may list an id
# twice while paging (a record edited during the walk); the newest listing
# counts. {{partition}} is filled in per query; $1 run, $2 entity,
# $3 project, $4 mirrored.
_PARTITION = f"""
WITH per_id AS (
    SELECT external_id,
        bool_or(side = {SOURCE}) AS in_s,
        bool_or(side = {RAW} AND NOT deleted) AS in_r,
        bool_or(side = {RAW} AND deleted) AS r_deleted,
        bool_or(side = {MIRROR} AND NOT deleted) AS in_m,
        count(*) FILTER (WHERE side = {RAW}) AS r_rows,
        count(*) FILTER (WHERE side = {MIRROR}) AS m_rows,
        max(updated_at) FILTER (WHERE side = {SOURCE}) AS s_updated,
        max(updated_at) FILTER (WHERE side = {RAW} AND NOT deleted) AS r_updated,
        max(version) FILTER (WHERE side = {SOURCE}) AS s_version,
        max(version) FILTER (WHERE side = {RAW} AND NOT deleted) AS r_version,
        coalesce(max(parent) FILTER (WHERE side = {SOURCE}),
            max(parent) FILTER (WHERE side = {RAW}), max(parent)) AS parent
    FROM reconcile.id_snapshots_{{partition}}
    WHERE run_id = $1 AND entity = $2
    GROUP BY external_id
), found (kind, external_id, reason, parent, in_source) AS (
    SELECT 'missing_in_raw', external_id,
        CASE WHEN r_deleted THEN 'deleted_locally' ELSE 'not_synced' END, parent, true
    FROM per_id WHERE in_s AND NOT in_r
    UNION ALL
    SELECT 'stale', external_id, 'source_newer', parent, true
    FROM per_id WHERE in_s AND in_r AND (s_updated > r_updated
        OR (s_version <> '' AND r_version <> '' AND s_version <> r_version))
    UNION ALL
    SELECT 'orphan', external_id, 'not_in_source', parent, false
    FROM per_id WHERE NOT in_s AND (in_r OR in_m)
    UNION ALL
    SELECT 'missing_in_mirror', external_id, 'mapping_failed', parent, true
    FROM per_id WHERE $4 AND in_s AND in_r AND NOT in_m
    UNION ALL
    SELECT 'duplicate', external_id, 'repeated_in_raw', parent, false
    FROM per_id WHERE r_rows > 1
    UNION ALL
    SELECT 'duplicate', external_id, 'repeated_in_mirror', parent, false
    FROM per_id WHERE m_rows > 1
), saved AS (
    INSERT INTO reconcile.findings (run_id, project_id, entity, kind, external_id,
        reason, repairable, in_source, parent)
    SELECT $1, $3, $2, kind, external_id, reason, kind <> 'duplicate', in_source, parent
    FROM found
)
SELECT count(*) FILTER (WHERE in_s) AS source, count(*) FILTER (WHERE in_r) AS raw,
    count(*) FILTER (WHERE in_m) AS mirror
FROM per_id
"""

_SAME_EMAIL = f"""
INSERT INTO reconcile.findings (run_id, project_id, entity, kind, external_id,
    reason, related_ids, repairable, in_source)
SELECT $1, $3, $2, 'duplicate', min(external_id), 'same_email',
    array_agg(external_id ORDER BY external_id), false, false
FROM (
    SELECT DISTINCT external_id, lower(email) AS email
    FROM reconcile.id_snapshots, unnest(emails) AS email
    WHERE run_id = $1 AND entity = $2 AND side = {RAW} AND NOT deleted
) addresses
GROUP BY email HAVING count(*) > 1
"""

# A deal without its mirror row waits for its company. Name the company and
# the reason.
_DEAL_REASONS = f"""
UPDATE reconcile.findings f SET
    related_ids = ARRAY[f.parent],
    reason = CASE
        WHEN NOT company.in_raw AND company.in_source THEN 'company_not_synced'
        WHEN NOT company.in_raw THEN 'company_not_in_source'
        WHEN NOT company.in_mirror THEN 'company_not_mirrored'
        ELSE 'mapping_failed' END,
    repairable = company.in_source
FROM (
    SELECT p.parent,
        bool_or(c.side = {SOURCE}) IS TRUE AS in_source,
        bool_or(c.side = {RAW} AND NOT c.deleted) IS TRUE AS in_raw,
        bool_or(c.side = {MIRROR} AND NOT c.deleted) IS TRUE AS in_mirror
    FROM (SELECT DISTINCT parent FROM reconcile.findings
          WHERE run_id = $1 AND entity = $2 AND kind = 'missing_in_mirror'
          AND parent <> '') p
    LEFT JOIN reconcile.id_snapshots c ON c.run_id = $1 AND c.entity = $3
        AND c.external_id = p.parent
    GROUP BY p.parent
) company
WHERE f.run_id = $1 AND f.entity = $2 AND f.kind = 'missing_in_mirror'
    AND f.parent = company.parent
"""


async def compare(
    conn: Connection,
    spec: EntitySpec,
    *,
    run_id: int,
    project_id: str,
    sample_size: int,
) -> EntityFigures:
    """Compare the loaded sides of one entity and return its figures."""
    figures = EntityFigures()
    project = uuid.UUID(project_id)
    # One transaction, so the slices commit once rather than one at a time.
    async with conn.transaction():
        for partition in range(PARTITIONS):
            row = await conn.fetchrow(
                _PARTITION.format(partition=partition),
                run_id,
                spec.key,
                project,
                spec.mirrored,
            )
            assert row is not None
            figures.source_count += row["source"]
            figures.raw_count += row["raw"]
            figures.mirror_count += row["mirror"]
        await _settle_across_ids(conn, spec, run_id, project)
        await _tally(conn, figures, run_id, spec.key, sample_size)
    return figures


async def _settle_across_ids(
    conn: Connection, spec: EntitySpec, run_id: int, project: uuid.UUID
) -> None:
    """Add the findings that span ids, and mark what a sync cannot repair."""
    if spec.email_keyed:
        await conn.execute(_SAME_EMAIL, run_id, spec.key, project)
    if spec.key == "attio/deals":
        await conn.execute(_DEAL_REASONS, run_id, spec.key, "attio/companies")
    for kind in {kind for key, kind in UNREPAIRABLE if key == spec.key}:
        await conn.execute(
            "UPDATE reconcile.findings SET repairable = false"
            " WHERE run_id = $1 AND entity = $2 AND kind = $3",
            run_id,
            spec.key,
            kind,
        )


async def _tally(
    conn: Connection, figures: EntityFigures, run_id: int, entity: str, size: int
) -> None:
    for row in await conn.fetch(
        "SELECT kind, count(*) AS n FROM reconcile.findings"
        " WHERE run_id = $1 AND entity = $2 GROUP BY kind",
        run_id,
        entity,
    ):
        figures.counts[row["kind"]] = row["n"]
    behind = await conn.fetchval(
        "SELECT count(DISTINCT external_id) FROM reconcile.findings"
        " WHERE run_id = $1 AND entity = $2 AND in_source"
        " AND kind IN ('missing_in_raw', 'stale', 'missing_in_mirror')",
        run_id,
        entity,
    )
    figures.current_count = figures.source_count - behind
    rows = await conn.fetch(
        "SELECT kind, external_id, reason, related_ids, repairable FROM ("
        " SELECT *, row_number() OVER (PARTITION BY kind ORDER BY external_id) AS n"
        " FROM reconcile.findings WHERE run_id = $1 AND entity = $2) ranked"
        " WHERE n <= $3 ORDER BY kind, external_id",
        run_id,
        entity,
        size,
    )
    figures.samples = [
        {
            "kind": row["kind"],
            "external_id": row["external_id"],
            "reason": row["reason"],
            "related_ids": list(row["related_ids"]),
            "repairable": row["repairable"],
        }
        for row in rows
    ]
