-- The vector queries that cost most, from pg_stat_statements (schema chosen at run time).
-- {statements} is replaced by the quoted view name in core.activity.
SELECT queryid,
       calls,
       total_exec_time AS total_ms,
       mean_exec_time AS mean_ms,
       rows,
       query
  FROM {statements}
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query ~ {vector_operators}
   -- DDL and EXPLAIN that mention the operators (CREATE EXTENSION vector's own script,
   -- the plan doctor's EXPLAINs) are no application query; leading comments are skipped.
   AND query !~* '^\s*(--[^\n]*\s*)*(CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE|EXPLAIN)\M'
 ORDER BY total_exec_time DESC
 LIMIT 50
