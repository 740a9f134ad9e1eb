-- The demo application's tenant-scoped message search: the HNSW index (vector_l2_ops)
-- serves <->, and the tenant filter is applied to its ef_search candidates afterwards, so
-- a small tenant gets fewer than 10 rows (the filtered-search trap).
-- %(tenant)s: a tenant_id; %(vector)s: the query vector.
SELECT id, body FROM public.messages WHERE tenant_id = %(tenant)s ORDER BY embedding <-> %(vector)s::vector LIMIT 10
