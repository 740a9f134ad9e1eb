-- An index's validity and readiness by schema and name (no row: there is no such index);
-- partitioned: a partitioned index (dropped without CONCURRENTLY, which it refuses).
SELECT x.indisvalid AS valid, x.indisready AS ready, c.relkind = 'I' AS partitioned
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_index x ON x.indexrelid = c.oid
 WHERE n.nspname = %(schema)s
   AND c.relname = %(name)s
