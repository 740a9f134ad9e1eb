-- A migration's indexes as the catalog has them now: validity, readiness, definition.
-- %(names)s are the old and new indexes' names (and, on a partitioned table, each
-- partition's); pg_get_indexdef is what a rollback must give back exactly; parent is the
-- partitioned index a partition's index is attached to.
SELECT c.relname::text AS name,
       x.indisvalid AS valid,
       x.indisready AS ready,
       pg_get_indexdef(c.oid) AS definition,
       pi.relname::text AS parent
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_index x ON x.indexrelid = c.oid
  LEFT JOIN pg_inherits ih ON c.relispartition AND ih.inhrelid = c.oid
  LEFT JOIN pg_class pi ON pi.oid = ih.inhparent
 WHERE n.nspname = %(schema)s
   AND c.relname = ANY(%(names)s)
