-- Demo index: HNSW on vector_ip_ops (inner product) for the product search.
CREATE INDEX "Product Embeddings_hnsw" ON search."Product Embeddings"
    USING hnsw ("Embedding" vector_ip_ops)
