-- One reconciliation of a project. A run holds a per-project advisory lock
-- while it works; a run left 'running' without the lock was cut off and is
-- closed as 'abandoned' by the next one.
CREATE TABLE reconcile.reconciliation_runs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'abandoned')),
    repair boolean NOT NULL DEFAULT false,
    requested_by text NOT NULL,
    trace_id text NOT NULL DEFAULT '',
    repairs jsonb NOT NULL DEFAULT '[]',
    error text,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX reconciliation_runs_project ON reconcile.reconciliation_runs (project_id, id DESC);

-- The figures of one connector and entity in one run. The row with
-- connector 'portfolio' and entity 'all' sums the run's entities.
CREATE TABLE reconcile.sync_reconciliation_metrics (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES reconcile.reconciliation_runs (id),
    project_id uuid NOT NULL,
    connector text NOT NULL,
    entity text NOT NULL,
    status text NOT NULL CHECK (status IN ('ok', 'failed')),
    error text,
    source_count bigint NOT NULL DEFAULT 0,
    raw_count bigint NOT NULL DEFAULT 0,
    -- NULL for entities without a CRM mirror.
    mirror_count bigint,
    current_count bigint NOT NULL DEFAULT 0,
    missing_in_raw bigint NOT NULL DEFAULT 0,
    missing_in_mirror bigint NOT NULL DEFAULT 0,
    duplicates bigint NOT NULL DEFAULT 0,
    orphans bigint NOT NULL DEFAULT 0,
    stale bigint NOT NULL DEFAULT 0,
    completeness double precision NOT NULL DEFAULT 0
        CHECK (completeness BETWEEN 0 AND 1),
    -- A bounded sample of findings: [{kind, external_id, reason, related_ids, repairable}].
    samples jsonb NOT NULL DEFAULT '[]',
    measured_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (run_id, connector, entity)
);
CREATE INDEX sync_reconciliation_metrics_latest
    ON reconcile.sync_reconciliation_metrics (project_id, connector, entity, measured_at DESC);

-- Scratch space of a running run: the ids of each side. Hash partitions by
-- id put the source, raw and mirror rows of an id in one partition, so one
-- comparison query reads one partition, a slice of the ids stored together.
-- Partitions are unlogged because a run that dies is run again, not
-- recovered; the run deletes its rows when it ends.
CREATE TABLE reconcile.id_snapshots (
    run_id bigint NOT NULL,
    project_id uuid NOT NULL,
    entity text NOT NULL,
    -- 0 the source system, 1 the raw table, 2 the CRM mirror.
    side smallint NOT NULL,
    external_id text NOT NULL,
    version text NOT NULL,
    updated_at timestamptz,
    emails text[] NOT NULL,
    parent text NOT NULL,
    archived boolean NOT NULL,
    deleted boolean NOT NULL
) PARTITION BY HASH (external_id);
DO $$
BEGIN
    FOR part IN 0..63 LOOP
        EXECUTE format(
            'CREATE UNLOGGED TABLE reconcile.id_snapshots_%s PARTITION OF'
            ' reconcile.id_snapshots FOR VALUES WITH (MODULUS 64, REMAINDER %s)',
            part, part);
    END LOOP;
END
$$;
CREATE INDEX id_snapshots_id ON reconcile.id_snapshots (run_id, entity, external_id);

CREATE UNLOGGED TABLE reconcile.findings (
    run_id bigint NOT NULL,
    project_id uuid NOT NULL,
    entity text NOT NULL,
    kind text NOT NULL,
    external_id text NOT NULL,
    reason text NOT NULL,
    related_ids text[] NOT NULL DEFAULT '{}',
    repairable boolean NOT NULL,
    -- True when the source lists the id, so the finding lowers completeness.
    in_source boolean NOT NULL,
    parent text NOT NULL DEFAULT ''
);
CREATE INDEX findings_kind ON reconcile.findings (run_id, entity, kind);

-- Scheduled jobs of this service; see services/common/scheduler.py.
CREATE TABLE reconcile.scheduled_jobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_type text NOT NULL,
    -- The nil UUID for a job that serves every project.
    project_id uuid NOT NULL,
    cadence_seconds double precision NOT NULL CHECK (cadence_seconds > 0),
    paused boolean NOT NULL DEFAULT false,
    next_run_at timestamptz NOT NULL DEFAULT now(),
    last_started_at timestamptz,
    last_finished_at timestamptz,
    last_status text CHECK (last_status IN ('succeeded', 'failed')),
    last_error text,
    last_duration_seconds double precision,
    consecutive_failures integer NOT NULL DEFAULT 0,
    lease_holder text,
    lease_expires_at timestamptz,
    heartbeat_at timestamptz,
    progress jsonb NOT NULL DEFAULT '{}',
    UNIQUE (job_type, project_id)
);
CREATE INDEX scheduled_jobs_due ON reconcile.scheduled_jobs (next_run_at) WHERE NOT paused;
