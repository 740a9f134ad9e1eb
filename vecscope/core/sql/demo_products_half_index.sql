-- Demo index (pgvector 0.7+): half-precision indexing of a full-precision column, an
-- expression index that queries must repeat exactly to use.
CREATE INDEX "Product Embeddings_half_idx" ON search."Product Embeddings"
    USING hnsw (("Embedding"::halfvec(384)) halfvec_cosine_ops)
