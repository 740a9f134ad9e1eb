-- Whether a table (or view, or materialized view) exists, and its columns of any type:
-- the lab says "no such table" rather than "no vector column" for a misspelt name.
-- %(schema)s and %(table)s are the names as stored (unquoted).
SELECT c.oid IS NOT NULL AS found,
       coalesce(array_agg(a.attname::text ORDER BY a.attnum)
                FILTER (WHERE a.attname IS NOT NULL), '{{}}') AS columns
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = %(schema)s AND c.relname = %(table)s
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
 GROUP BY c.oid
