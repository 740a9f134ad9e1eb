-- The vector queries that cost most, from pg_stat_statements (schema chosen at run time).
-- STATEMENTS is replaced by the quoted view name in core.activity.
SELECT queryid,
       calls,
       total_exec_time AS total_ms,
       mean_exec_time AS mean_ms,
       rows,
       query
  FROM STATEMENTS
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query ~ '(<->|<=>|<#>|<\+>|<~>|<%>)'
 ORDER BY total_exec_time DESC
 LIMIT 50
