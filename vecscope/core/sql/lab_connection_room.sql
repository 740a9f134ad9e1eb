-- How many more sessions the server takes: max_connections less the slots reserved for
-- superusers (and for pg_use_reserved_connections on PostgreSQL 16+) and the client
-- sessions open now. The lab caps its concurrency by it, never opening sessions until
-- the server refuses one.
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int
         + coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0)
         AS reserved,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int
         AS in_use
