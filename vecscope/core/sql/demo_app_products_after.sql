-- The demo application's product search after its "deploy": cosine distance, which the
-- vector_ip_ops HNSW index cannot serve (sequential scans). %(vector)s: the query vector.
SELECT "Product ID", "SKU" FROM search."Product Embeddings" ORDER BY "Embedding" <=> %(vector)s::vector LIMIT 5
