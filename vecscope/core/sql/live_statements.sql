-- Vector query shapes from pg_stat_statements: cumulative counters, summed over the
-- roles that ran the same shape. {statements} is the quoted view, {since} the oldest
-- per-entry start (pg_stat_statements 1.11+, else NULL); both are set in core.live.poll.
SELECT queryid,
       sum(calls)::bigint AS calls,
       sum(total_exec_time)::float8 AS total_ms,
       sum(rows)::bigint AS rows,
       min(query) AS query,
       {since} AS since
  FROM {statements}
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND queryid IS NOT NULL
   AND query ~ {vector_operators}
   -- DDL and EXPLAIN that mention the operators (CREATE EXTENSION vector's own script, a
   -- DBA's EXPLAIN, vecscope's plan doctor) are no application query shape; leading
   -- comments are skipped.
   AND query !~* '^\s*(--[^\n]*\s*)*(CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE|EXPLAIN)\M'
 GROUP BY queryid
