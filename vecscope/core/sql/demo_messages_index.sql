-- Demo index: HNSW on vector_l2_ops, while the application orders by <=> (a mismatch).
CREATE INDEX idx_messages_embedding_hnsw ON public.messages
    USING hnsw (embedding vector_l2_ops) WITH (m = 16, ef_construction = 64)
