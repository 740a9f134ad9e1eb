-- The invalid name_ccnew / name_ccold copies an interrupted REINDEX CONCURRENTLY leaves.
SELECT c.relname::text AS name
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_index x ON x.indexrelid = c.oid
 WHERE n.nspname = %(schema)s
   AND NOT x.indisvalid
   AND (c.relname LIKE %(ccnew)s OR c.relname LIKE %(ccold)s)
