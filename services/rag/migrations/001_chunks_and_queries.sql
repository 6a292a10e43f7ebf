CREATE EXTENSION IF NOT EXISTS vector;

-- One row per source document known to the index.
CREATE TABLE rag.rag_documents (
    project_id uuid NOT NULL,
    source_type text NOT NULL,
    external_id text NOT NULL,
    title text NOT NULL,
    url text NOT NULL DEFAULT '',
    source_updated_at timestamptz,
    indexed_sequence bigint NOT NULL,
    chunk_count integer NOT NULL,
    deleted_at timestamptz,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, source_type, external_id)
);

CREATE TABLE rag.rag_chunks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    source_type text NOT NULL,
    external_id text NOT NULL,
    chunk_index integer NOT NULL,
    text text NOT NULL,
    token_count integer NOT NULL,
    content_hash text NOT NULL,
    -- One explicit configuration on both sides of every match: 'russian'
    -- stems Cyrillic words with the Russian stemmer and ASCII words with the
    -- English one, so it serves both languages; ё is folded to е here and in
    -- queries because the stemmer treats them as different letters.
    search_tsv tsvector GENERATED ALWAYS AS (
        to_tsvector('russian'::regconfig, translate(text, 'ёЁ', 'еЕ'))
    ) STORED,
    -- Dimensionless so that vectors of several models can coexist; each
    -- row records its model and dimension, and searches compare only rows
    -- of the query's model.
    embedding vector,
    embedding_model text,
    embedding_dim integer,
    embedding_status text NOT NULL DEFAULT 'pending'
        CHECK (embedding_status IN ('pending', 'processing', 'ready', 'failed', 'skipped')),
    attempts integer NOT NULL DEFAULT 0,
    last_error text,
    claimed_by text,
    claimed_at timestamptz,
    next_attempt_at timestamptz,
    embedded_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, source_type, external_id, chunk_index)
);
CREATE INDEX rag_chunks_search_tsv ON rag.rag_chunks USING gin (search_tsv);
CREATE INDEX rag_chunks_claimable ON rag.rag_chunks (project_id, embedding_status, created_at);
-- HNSW needs a fixed dimension, so each supported dimension gets a partial
-- expression index; queries repeat the same cast and predicate to use it.
CREATE INDEX rag_chunks_hnsw_384 ON rag.rag_chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE embedding_dim = 384;
CREATE INDEX rag_chunks_hnsw_1536 ON rag.rag_chunks
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops) WHERE embedding_dim = 1536;

-- How far each project's index has read the connectors' change feed.
CREATE TABLE rag.index_cursors (
    project_id uuid PRIMARY KEY,
    last_sequence bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rag.lightrag_query_runs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    user_id text NOT NULL DEFAULT '',
    question text NOT NULL,
    mode text NOT NULL,
    status text NOT NULL CHECK (status IN ('ok', 'degraded', 'failed')),
    error_code text,
    error text,
    evidence_count integer NOT NULL DEFAULT 0,
    vector_available boolean,
    answer_method text,
    duration_ms double precision NOT NULL,
    trace_id text NOT NULL DEFAULT '',
    request_id text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lightrag_query_runs_recent ON rag.lightrag_query_runs (project_id, created_at DESC);
