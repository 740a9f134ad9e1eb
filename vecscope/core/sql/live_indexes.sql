-- Cumulative scan counters of every pgvector index and of its table. The pg_stat_get_*
-- functions are what pg_stat_user_indexes/tables call, minus the joins those views make
-- over every relation: this stays cheap with thousands of indexes.
SELECT i.indexrelid::bigint AS indexrelid,
       n.nspname::text AS schema,
       t.relname::text AS table_name,
       c.relname::text AS name,
       am.amname::text AS method,
       i.indisvalid AS valid,
       pg_stat_get_numscans(i.indexrelid) AS idx_scan,
       pg_stat_get_tuples_returned(i.indexrelid) AS idx_tup_read,
       pg_stat_get_numscans(i.indrelid) AS seq_scan,
       pg_stat_get_tuples_returned(i.indrelid) AS seq_tup_read,
       pg_stat_get_live_tuples(i.indrelid) AS live_rows
  FROM pg_am am
  JOIN pg_class c ON c.relam = am.oid AND c.relkind = 'i'
  JOIN pg_index i ON i.indexrelid = c.oid
  JOIN pg_class t ON t.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE am.amname IN ('hnsw', 'ivfflat')
