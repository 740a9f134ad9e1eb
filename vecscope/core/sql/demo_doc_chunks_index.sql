-- Demo index: IVFFlat (lists = 100, cosine), the candidate for the migration to HNSW.
CREATE INDEX idx_doc_chunks_embedding ON public.doc_chunks
    USING ivfflat (embedding vector_cosine_ops) WITH (lists = 100)
