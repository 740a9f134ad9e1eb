-- The contrib modules the demo creates where the server ships them (%(names)s: a text[]);
-- pg_stat_statements only where it is preloaded, since its view fails everywhere else.
SELECT name FROM pg_available_extensions WHERE name = ANY(%(names)s)
   AND (name <> 'pg_stat_statements'
        OR current_setting('shared_preload_libraries') ~ 'pg_stat_statements')
 ORDER BY name
