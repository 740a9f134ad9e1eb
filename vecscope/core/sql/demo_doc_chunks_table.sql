-- Demo table: document chunks of a multi-tenant semantic search.
CREATE TABLE public.doc_chunks (
    id bigint PRIMARY KEY,
    tenant_id text NOT NULL,
    text text NOT NULL,
    embedding vector(384))
