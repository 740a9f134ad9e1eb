-- The demo application's lookup on the small atoms table. %(vector)s: the query vector.
SELECT id, title FROM public.atoms ORDER BY embedding <-> %(vector)s::vector LIMIT 3
