-- Valid, ready vector indexes on a table: what a query can use right now.
SELECT i.relname::text AS name
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_am am ON am.oid = i.relam
 WHERE x.indrelid = %(table)s::regclass
   AND x.indisvalid
   AND x.indisready
   AND am.amname IN ('hnsw', 'ivfflat')
