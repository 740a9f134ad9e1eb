-- Invalid (or not ready) indexes on the table: what an earlier attempt left, ours or anyone's.
SELECT i.relname::text AS name
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
 WHERE x.indrelid = %(table)s::regclass
   AND NOT (x.indisvalid AND x.indisready)
 ORDER BY 1
