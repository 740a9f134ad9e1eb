-- The demo application's "similar messages": cosine distance against an l2 index (so
-- sequential scans). %(vector)s: the query vector.
SELECT id, body FROM public.messages ORDER BY embedding <=> %(vector)s::vector LIMIT 10
