-- Every index on the tables a plan scans, whatever its access method, so that the doctor
-- never suggests building one that exists. %(schemas)s and %(tables)s are text[] of the
-- same length (schema and name of each table); "columns" are the key columns in order,
-- NULL for an expression.
SELECT n.nspname AS schema,
       t.relname AS "table",
       i.relname AS name,
       am.amname AS method,
       ARRAY(SELECT a.attname
               FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
              WHERE k.ord <= ix.indnkeyatts
              ORDER BY k.ord) AS columns,
       ix.indisvalid AND ix.indisready AS usable,
       pg_get_expr(ix.indpred, ix.indrelid) AS predicate
  FROM unnest(%(schemas)s::text[], %(tables)s::text[]) AS want(schema, name)
  JOIN pg_namespace n ON n.nspname = want.schema
  JOIN pg_class t ON t.relnamespace = n.oid AND t.relname = want.name
  JOIN pg_index ix ON ix.indrelid = t.oid
  JOIN pg_class i ON i.oid = ix.indexrelid
  JOIN pg_am am ON am.oid = i.relam
 ORDER BY 1, 2, 3
