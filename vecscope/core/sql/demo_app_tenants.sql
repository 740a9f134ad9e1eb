-- The tenants of the demo's messages, for the application's tenant-scoped search.
SELECT DISTINCT tenant_id FROM public.messages ORDER BY tenant_id
