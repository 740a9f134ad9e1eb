-- Demo table: names that need quoting everywhere.
CREATE TABLE search."Product Embeddings" (
    "Product ID" bigint PRIMARY KEY,
    "SKU" text NOT NULL,
    "Embedding" vector(384))
