-- Demo index: the tenant filter's btree on doc_chunks.
CREATE INDEX doc_chunks_tenant_id_idx ON public.doc_chunks (tenant_id)
