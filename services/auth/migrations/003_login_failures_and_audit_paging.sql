-- Failed logins, counted per typed user name and per client address to
-- throttle password guessing. A row is written before the password is
-- checked and deleted again when the login succeeds, so that concurrent
-- attempts cannot all pass the check before any failure is stored.
CREATE TABLE auth.login_failures (
    id bigserial PRIMARY KEY,
    -- The user name as typed, whether or not such a user exists.
    username text NOT NULL,
    client_address text NOT NULL,
    failed_at timestamptz NOT NULL,
    -- Set by a successful login of this user name: the row then no longer
    -- counts against the user name, but still counts against the address.
    cleared_at timestamptz
);
CREATE INDEX login_failures_username
    ON auth.login_failures (username, failed_at) WHERE cleared_at IS NULL;
CREATE INDEX login_failures_address ON auth.login_failures (client_address, failed_at);
CREATE INDEX login_failures_failed_at ON auth.login_failures (failed_at);

-- GET /audit pages through one project's events by descending id.
CREATE INDEX audit_events_project_id ON auth.audit_events (project_id, id DESC);
