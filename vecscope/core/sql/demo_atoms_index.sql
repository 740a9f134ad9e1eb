-- Demo index: HNSW on the small atoms table (cosine).
CREATE INDEX idx_atoms_embedding_hnsw ON public.atoms
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)
