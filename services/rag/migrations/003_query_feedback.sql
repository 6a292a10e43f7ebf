-- Users' ratings of query runs: one row per user and run, so a second rating
-- replaces the first. created_at is the time of the latest rating.
CREATE TABLE rag.lightrag_query_feedback (
    query_run_id uuid NOT NULL REFERENCES rag.lightrag_query_runs (id) ON DELETE CASCADE,
    project_id uuid NOT NULL,
    user_id text NOT NULL,
    rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment text NOT NULL DEFAULT '' CHECK (char_length(comment) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (query_run_id, user_id)
);
CREATE INDEX lightrag_query_feedback_recent
    ON rag.lightrag_query_feedback (project_id, created_at DESC);
