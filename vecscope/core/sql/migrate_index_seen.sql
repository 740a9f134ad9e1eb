-- A migration's indexes as the catalog has them now: validity, readiness, definition.
-- %(names)s are the old and new indexes' names; pg_get_indexdef is what a rollback must
-- give back exactly.
SELECT c.relname::text AS name,
       x.indisvalid AS valid,
       x.indisready AS ready,
       pg_get_indexdef(c.oid) AS definition
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_index x ON x.indexrelid = c.oid
 WHERE n.nspname = %(schema)s
   AND c.relname = ANY(%(names)s)
