-- Users, projects and memberships; sessions; the audit log.
-- gen_random_uuid() is built in since PostgreSQL 13.
CREATE TABLE auth.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username text NOT NULL UNIQUE,
    -- argon2id in PHC string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz
);

CREATE TABLE auth.projects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Names need not be unique; the service stores them trimmed.
    name text NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid NOT NULL REFERENCES auth.users (id)
);

CREATE TABLE auth.memberships (
    project_id uuid NOT NULL REFERENCES auth.projects (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX memberships_user ON auth.memberships (user_id);

CREATE TABLE auth.sessions (
    -- SHA-256 hex of the session token; the token itself is never stored.
    id_hash text PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    active_project_id uuid REFERENCES auth.projects (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    absolute_expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    client_address text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON auth.sessions (user_id);
CREATE INDEX sessions_idle_expires_at ON auth.sessions (idle_expires_at);

-- No foreign keys: events outlive the projects and users they name, and
-- actor_id is a user name for failed logins.
CREATE TABLE auth.audit_events (
    id bigserial PRIMARY KEY,
    project_id uuid,
    actor_id text NOT NULL,
    -- user: actor_id is a user id; service: a service name; anonymous: the
    -- user name a failed login attempted.
    actor_kind text NOT NULL,
    action text NOT NULL,
    status text NOT NULL CHECK (status IN ('ok', 'failed', 'warning')),
    target text NOT NULL DEFAULT '',
    trace_id text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_project_created
    ON auth.audit_events (project_id, created_at DESC);
