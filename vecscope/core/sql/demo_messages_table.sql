-- Demo table: chat messages of many tenants, indexed for l2 while the application's
-- "similar messages" queries with cosine (its tenant-scoped search uses <->). tenant_id
-- has no B-tree: the tenant filter is applied after the HNSW scan (the filtered-search trap).
CREATE TABLE public.messages (
    id bigint PRIMARY KEY,
    conversation_id bigint NOT NULL,
    tenant_id text NOT NULL,
    role text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL,
    embedding vector(384))
