-- Demo table: articles whose vector column has no index at all.
CREATE TABLE public.articles (
    id bigint PRIMARY KEY,
    uri text NOT NULL,
    title text NOT NULL,
    embedding vector(384))
