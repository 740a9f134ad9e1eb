-- The application's vector query shapes, most frequent first, from pg_stat_statements
-- ({statements}, the quoted view): which distance operator it uses on a column.
SELECT sum(calls)::bigint AS calls, min(query) AS query
  FROM {statements}
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query ~ {vector_operators}
   -- DDL and EXPLAIN (vecscope's own included) are no application query shape.
   AND query !~* '^\s*(--[^\n]*\s*)*(CREATE|ALTER|DROP|COMMENT|GRANT|REVOKE|EXPLAIN)\M'
 GROUP BY queryid
 ORDER BY calls DESC
 LIMIT 200
