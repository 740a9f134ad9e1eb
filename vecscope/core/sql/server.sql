-- Server identity and extensions: one row.
SELECT current_setting('server_version') AS version,
       current_setting('server_version_num')::int AS version_num,
       (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector,
       (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'vector') AS pgvector_schema,
       (SELECT default_version FROM pg_available_extensions WHERE name = 'vector') AS pgvector_available,
       (SELECT extversion FROM pg_extension WHERE extname = 'vectorscale') AS pgvectorscale,
       (SELECT extversion FROM pg_extension WHERE extname = 'citus') AS citus,
       pg_is_in_recovery() AS in_recovery,
       (SELECT stats_reset::text FROM pg_stat_database WHERE datname = current_database()) AS stats_reset,
       current_user::text AS current_user,
       coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS is_superuser
