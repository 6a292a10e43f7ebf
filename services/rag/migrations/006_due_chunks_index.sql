-- The embeddings job claims the oldest due chunks a batch at a time. The
-- claim's condition (pending, or processing with a stale claim) is an OR
-- that rag_chunks_claimable cannot serve in created_at order, so while most
-- chunks were pending every claim read and sorted all of the project's
-- chunks: a first index or a backfill took time quadratic in its size.
-- This index holds only the chunks that can still be claimed, in claim order.
CREATE INDEX rag_chunks_due ON rag.rag_chunks (project_id, created_at, chunk_index)
    WHERE embedding_status IN ('pending', 'processing');
