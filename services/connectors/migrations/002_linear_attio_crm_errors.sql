-- Linear and Attio raw tables, the CRM mirror, normalised documents of the
-- newer sources, and per-page or per-record connector errors.

ALTER TABLE connectors.sync_runs DROP CONSTRAINT sync_runs_mode_check;
ALTER TABLE connectors.sync_runs ADD CONSTRAINT sync_runs_mode_check
    CHECK (mode IN ('incremental', 'full', 'targeted', 'retry'));

-- Columns shared by the Linear and Attio raw tables:
--   content_hash   hash of the record as the source sent it, to skip no-op writes;
--   seen_pass      the full pass that last saw the record, to find hard deletes;
--   deleted_at     set when the source no longer has the record.
CREATE TABLE connectors.linear_issues_raw (
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    identifier text NOT NULL,
    title text NOT NULL,
    state_name text,
    state_type text,
    team_key text,
    project_name text,
    cycle_number integer,
    priority double precision,
    assignee_name text,
    comment_count integer NOT NULL DEFAULT 0,
    source_created_at timestamptz,
    source_updated_at timestamptz NOT NULL,
    archived_at timestamptz,
    trashed boolean NOT NULL DEFAULT false,
    content_hash text NOT NULL,
    seen_pass text,
    deleted_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, external_id)
);
CREATE INDEX linear_issues_identifier ON connectors.linear_issues_raw (project_id, identifier);

CREATE TABLE connectors.linear_cycles_raw (
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    team_key text,
    number integer NOT NULL,
    name text,
    starts_at timestamptz,
    ends_at timestamptz,
    completed_at timestamptz,
    source_updated_at timestamptz NOT NULL,
    archived_at timestamptz,
    content_hash text NOT NULL,
    seen_pass text,
    deleted_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, external_id)
);

CREATE TABLE connectors.attio_accounts_raw (
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    name text NOT NULL DEFAULT '',
    domains text[] NOT NULL DEFAULT '{}',
    source_created_at timestamptz,
    content_hash text NOT NULL,
    seen_pass text,
    deleted_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, external_id)
);

CREATE TABLE connectors.attio_people_raw (
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    name text NOT NULL DEFAULT '',
    emails text[] NOT NULL DEFAULT '{}',
    company_external_id text,
    source_created_at timestamptz,
    content_hash text NOT NULL,
    seen_pass text,
    deleted_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, external_id)
);

CREATE TABLE connectors.attio_opportunities_raw (
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    name text NOT NULL DEFAULT '',
    stage text,
    amount numeric,
    currency text,
    owner_ref text,
    company_external_id text,
    people_external_ids text[] NOT NULL DEFAULT '{}',
    source_created_at timestamptz,
    content_hash text NOT NULL,
    seen_pass text,
    deleted_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, external_id)
);
CREATE INDEX attio_opportunities_company
    ON connectors.attio_opportunities_raw (project_id, company_external_id);

-- The CRM mirror: one row per source reference, whatever edits it receives.
CREATE TABLE connectors.crm_accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id uuid NOT NULL,
    source_system text NOT NULL,
    external_ref text NOT NULL,
    name text NOT NULL,
    domain text,
    source_hash text NOT NULL,
    deleted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, source_system, external_ref)
);

CREATE TABLE connectors.crm_opportunities (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id uuid NOT NULL,
    source_system text NOT NULL,
    external_ref text NOT NULL,
    account_id bigint REFERENCES connectors.crm_accounts (id),
    name text NOT NULL,
    stage text,
    amount numeric,
    currency text,
    owner_ref text,
    source_hash text NOT NULL,
    deleted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, source_system, external_ref)
);
CREATE INDEX crm_opportunities_account ON connectors.crm_opportunities (account_id);

-- Normalised documents of Linear issues and Attio deals for the change feed.
-- A document takes a new change number only when its hash changes.
CREATE TABLE connectors.feed_documents (
    project_id uuid NOT NULL,
    source_type text NOT NULL,
    external_id text NOT NULL,
    title text NOT NULL,
    url text NOT NULL,
    source_updated_at timestamptz NOT NULL,
    sections jsonb NOT NULL,
    metadata jsonb NOT NULL,
    document_hash text NOT NULL,
    change_seq bigint NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    PRIMARY KEY (project_id, source_type, external_id)
);
CREATE INDEX feed_documents_change_seq ON connectors.feed_documents (project_id, change_seq);

-- A failed page (target '') or record (target = its external id). An open
-- error is pending (waiting for its retry time, or for an operator when
-- next_retry_at is NULL), retrying, or dead_letter after its last attempt.
CREATE TABLE connectors.connector_errors (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id uuid NOT NULL,
    connector text NOT NULL,
    entity text NOT NULL,
    target text NOT NULL DEFAULT '',
    position jsonb NOT NULL DEFAULT '{}',
    kind text NOT NULL CHECK (kind IN ('authentication', 'rate_limited', 'transient',
        'invalid_response', 'invalid_record', 'not_found')),
    status text NOT NULL CHECK (status IN ('pending', 'retrying', 'dead_letter', 'resolved')),
    message text NOT NULL,
    attempts integer NOT NULL DEFAULT 1,
    next_retry_at timestamptz,
    run_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
-- One open error per page walk or record; a repeat failure updates it.
CREATE UNIQUE INDEX connector_errors_open
    ON connectors.connector_errors (project_id, connector, entity, target)
    WHERE status <> 'resolved';
CREATE INDEX connector_errors_due
    ON connectors.connector_errors (next_retry_at)
    WHERE status IN ('pending', 'retrying');
