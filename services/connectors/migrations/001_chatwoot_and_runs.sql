-- Raw Chatwoot tables keep the API's JSON beside the extracted columns.
CREATE TABLE connectors.cw_contacts (
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    name text NOT NULL DEFAULT '',
    email text,
    phone_number text,
    identifier text,
    source_created_at timestamptz,
    content_hash text NOT NULL,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, external_id)
);
CREATE INDEX cw_contacts_email ON connectors.cw_contacts (project_id, lower(email));

CREATE TABLE connectors.cw_conversations (
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    status text NOT NULL,
    inbox_id bigint,
    contact_external_id text,
    labels text[] NOT NULL DEFAULT '{}',
    source_created_at timestamptz,
    -- Chatwoot sends updated_at as float seconds; kept exact to detect changes.
    source_updated_at double precision NOT NULL,
    document_hash text NOT NULL,
    change_seq bigint NOT NULL,
    deleted_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, external_id)
);
CREATE INDEX cw_conversations_change_seq ON connectors.cw_conversations (project_id, change_seq);

CREATE TABLE connectors.cw_messages (
    project_id uuid NOT NULL,
    external_id text NOT NULL,
    conversation_external_id text NOT NULL,
    message_id bigint NOT NULL,
    message_type smallint NOT NULL,
    content text,
    content_type text,
    private boolean NOT NULL DEFAULT false,
    sender_type text,
    sender_external_id text,
    sender_name text,
    source_created_at timestamptz,
    raw jsonb NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, external_id)
);
CREATE INDEX cw_messages_conversation
    ON connectors.cw_messages (project_id, conversation_external_id, message_id);

-- One counter per project orders the change feed. Writers bump it inside
-- their data transaction, so the row lock makes sequence order commit order
-- and a reader never skips a change that commits late.
CREATE TABLE connectors.change_sequences (
    project_id uuid PRIMARY KEY,
    last_seq bigint NOT NULL DEFAULT 0
);

CREATE TABLE connectors.sync_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    connector text NOT NULL,
    mode text NOT NULL CHECK (mode IN ('incremental', 'full', 'targeted')),
    external_ids text[] NOT NULL DEFAULT '{}',
    status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'abandoned')),
    lease_holder text NOT NULL,
    lease_expires_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    counts jsonb NOT NULL DEFAULT '{}',
    error text
);
-- At most one running sync per project and connector.
CREATE UNIQUE INDEX sync_runs_one_running
    ON connectors.sync_runs (project_id, connector) WHERE status = 'running';
CREATE INDEX sync_runs_recent ON connectors.sync_runs (project_id, connector, started_at DESC);

CREATE TABLE connectors.connector_sync_state (
    project_id uuid NOT NULL,
    connector text NOT NULL,
    cursor jsonb NOT NULL DEFAULT '{}',
    last_success_at timestamptz,
    last_error text,
    last_error_at timestamptz,
    retry_count integer NOT NULL DEFAULT 0,
    last_run_id uuid,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, connector)
);
