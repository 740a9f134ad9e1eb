-- The demo's concurrent build, cancelled while it waits for the report's old snapshot:
-- PostgreSQL leaves the index ready (maintained on every write) but INVALID (never used).
CREATE INDEX CONCURRENTLY "Product Embeddings_cosine_idx" ON search."Product Embeddings"
    USING hnsw ("Embedding" vector_cosine_ops)
