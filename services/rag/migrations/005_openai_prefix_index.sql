-- Inserting a 1536-dim vector into an HNSW index of full float vectors cost
-- about 4.9 ms of database CPU (pgvector 0.8.6, m 16, ef_construction 64,
-- 3,000 inserts on a 2-core EPYC) and bounded the embeddings job. The cost
-- grows with the work per distance, so text-embedding-3 vectors are now
-- indexed by their first 512 components as halfvec (about 1.5 ms per insert).
-- These models are trained so that a prefix of the vector is an embedding on
-- its own: the API's `dimensions` option returns the same prefix, rescaled,
-- and cosine distance ignores the scale. Searches take candidates from this
-- index and rank them by the full vector.
--
-- Other 1536-dim models, such as text-embedding-ada-002, have no such prefix
-- property and keep an index of the full vectors. The index build below
-- covers every stored 1536-dim row, so existing vectors need no re-embedding.
-- NOTE: the builds block writes to rag.rag_chunks while they run. The old
-- index is dropped last, because DROP INDEX locks out reads as well until the
-- migration's transaction commits.
CREATE INDEX rag_chunks_hnsw_1536_prefix512 ON rag.rag_chunks
    USING hnsw ((subvector(embedding, 1, 512)::halfvec(512)) halfvec_cosine_ops)
    WHERE embedding_dim = 1536 AND embedding_model LIKE 'text-embedding-3-%';
CREATE INDEX rag_chunks_hnsw_1536_full ON rag.rag_chunks
    USING hnsw ((embedding::vector(1536)) vector_cosine_ops)
    WHERE embedding_dim = 1536 AND embedding_model NOT LIKE 'text-embedding-3-%';
DROP INDEX rag.rag_chunks_hnsw_1536;
