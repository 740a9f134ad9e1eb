-- Demo table: small enough that a Seq Scan is right.
CREATE TABLE public.atoms (
    id bigint PRIMARY KEY,
    title text NOT NULL,
    embedding vector(384))
