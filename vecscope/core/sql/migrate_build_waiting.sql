-- The sessions a waiting build waits for: its blockers and the locker it reports.
SELECT a.pid,
       coalesce(a.usename::text, '') AS user,
       coalesce(a.application_name, '') AS application,
       coalesce(a.state, '') AS state,
       extract(epoch FROM clock_timestamp() - coalesce(a.xact_start, a.query_start))::float8
         AS age_seconds,
       left(coalesce(a.query, ''), 200) AS query
  FROM pg_stat_activity a
 WHERE a.pid = ANY(pg_blocking_pids(%(pid)s)) OR a.pid = %(locker)s
