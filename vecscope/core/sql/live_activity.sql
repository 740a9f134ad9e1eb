-- Vector queries running now in this database. A role without pg_read_all_stats sees
-- '<insufficient privilege>' for other roles' sessions, with a NULL state and backend_type
-- (only datid, pid and the role are shown): those are counted as hidden.
SELECT pid,
       extract(epoch FROM clock_timestamp() - query_start)::float8 AS duration_s,
       state,
       wait_event_type,
       wait_event,
       usename::text AS usename,
       application_name,
       left(query, 2000) AS query
  FROM pg_stat_activity
 WHERE datname = current_database()
   AND pid <> pg_backend_pid()
   AND ((backend_type = 'client backend'
         AND state = 'active'
         AND query ~ {vector_operators})
        OR query = '<insufficient privilege>')
 ORDER BY query_start NULLS LAST
 LIMIT 500
