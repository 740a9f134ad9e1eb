-- The demo application's document search (IVFFlat, cosine). %(vector)s: the query vector.
SELECT id, tenant_id FROM public.doc_chunks ORDER BY embedding <=> %(vector)s::vector LIMIT 10
