-- Transactions that hold a snapshot: a concurrent build waits for each to finish.
SELECT pid,
       coalesce(usename::text, '') AS user,
       coalesce(application_name, '') AS application,
       coalesce(state, '') AS state,
       extract(epoch FROM clock_timestamp() - xact_start)::float8 AS age_seconds,
       left(coalesce(query, ''), 200) AS query
  FROM pg_stat_activity
 WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
   AND backend_type = 'client backend'
   AND datname = current_database()
   -- Only a snapshot or a transaction id makes a concurrent build wait.
   AND (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL)
   AND clock_timestamp() - xact_start > make_interval(secs => %(older_than_s)s)
 ORDER BY xact_start
