-- Term statistics for BM25 ranking of the full-text leg, kept per project as
-- chunks are written, so a query reads a few rows instead of counting over
-- every chunk of the project.
--   term_stats.chunks     chunks of the project whose search_tsv holds the lexeme
--   corpus_stats.chunks   chunks of the project
--   corpus_stats.tokens   sum of their token_count, for the mean chunk length
-- Writers add differences, so a lexeme no chunk holds any more stays at 0.
CREATE TABLE rag.term_stats (
    project_id uuid NOT NULL,
    lexeme text NOT NULL,
    chunks integer NOT NULL,
    PRIMARY KEY (project_id, lexeme)
);

CREATE TABLE rag.corpus_stats (
    project_id uuid PRIMARY KEY,
    chunks bigint NOT NULL,
    tokens bigint NOT NULL
);

INSERT INTO rag.term_stats (project_id, lexeme, chunks)
SELECT c.project_id, t.lexeme, count(*)
FROM rag.rag_chunks c, unnest(c.search_tsv) AS t
GROUP BY c.project_id, t.lexeme;

INSERT INTO rag.corpus_stats (project_id, chunks, tokens)
SELECT project_id, count(*), coalesce(sum(token_count), 0)
FROM rag.rag_chunks
GROUP BY project_id;
