-- Demo index on a partitioned table: IVFFlat (lists = 20, cosine) on the parent, which
-- PostgreSQL builds on every partition (not concurrently: nobody uses the demo yet). The
-- wizard migrates it the way a live table needs: ON ONLY, each partition concurrently.
CREATE INDEX idx_events_embedding ON public.events
    USING ivfflat (embedding vector_cosine_ops) WITH (lists = 20)
