-- Scheduled jobs of this service; see services/common/scheduler.py.
CREATE TABLE rag.scheduled_jobs (
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
CREATE INDEX scheduled_jobs_due ON rag.scheduled_jobs (next_run_at) WHERE NOT paused;
