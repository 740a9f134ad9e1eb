-- Demo table: chat messages, indexed for l2 while the application queries with cosine.
CREATE TABLE public.messages (
    id bigint PRIMARY KEY,
    conversation_id bigint NOT NULL,
    role text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL,
    embedding vector(384))
