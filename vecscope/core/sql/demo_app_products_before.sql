-- The demo application's product search before its "deploy": inner product, served by the
-- vector_ip_ops HNSW index. %(vector)s: the query vector.
SELECT "Product ID", "SKU" FROM search."Product Embeddings" ORDER BY "Embedding" <#> %(vector)s::vector LIMIT 5
