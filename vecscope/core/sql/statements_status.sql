-- Whether pg_stat_statements can be read here: installed in this database, and loaded.
SELECT (SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
         WHERE e.extname = 'pg_stat_statements') AS schema,
       -- Installed in a schema this role may not use (a managed server's "monitoring"):
       -- reading the view would fail with "permission denied for schema".
       (SELECT has_schema_privilege(e.extnamespace, 'USAGE') FROM pg_extension e
         WHERE e.extname = 'pg_stat_statements') AS schema_usable,
       current_user::text AS role,
       (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements') IS NOT NULL
           AS available,
       -- pg_settings, not current_setting(): a role without pg_read_all_settings gets no
       -- row (NULL) instead of an error that would stop every poll.
       (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries')
           ~ 'pg_stat_statements' AS preloaded,
       pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') AS read_all_stats
