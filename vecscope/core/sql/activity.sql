-- Queries running now in this database that use a pgvector distance operator.
-- Other roles' query texts read as '<insufficient privilege>' without pg_read_all_stats.
SELECT pid,
       extract(epoch FROM clock_timestamp() - query_start)::float8 AS duration_s,
       state,
       wait_event_type,
       wait_event,
       usename::text AS usename,
       application_name,
       query
  FROM pg_stat_activity
 WHERE datname = current_database()
   AND pid <> pg_backend_pid()
   AND backend_type = 'client backend'
   AND query ~ {vector_operators}
 ORDER BY query_start NULLS LAST
 LIMIT 200
