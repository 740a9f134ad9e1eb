-- Every column of a vector type (pgvector's vector, halfvec, sparsevec; and bit, used for
-- binary quantisation) in every user schema. One query, whatever the number of tables.
WITH vtypes AS (
    SELECT t.oid, t.typname::text AS typname
      FROM pg_type t
      JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
      JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND e.oid = d.refobjid
     WHERE e.extname = 'vector' AND t.typname IN ('vector', 'halfvec', 'sparsevec')
    UNION ALL
    SELECT 'pg_catalog.bit'::regtype::oid, 'bit'
), locked AS (
    -- Relations someone holds or waits for an ACCESS EXCLUSIVE lock on: asking their size
    -- would queue us behind that lock, so we report the planner's page count instead.
    SELECT DISTINCT relation FROM pg_locks
     WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock' AND database = (
           SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT n.nspname::text AS schema,
       c.relname::text AS table,
       a.attname::text AS column,
       vt.typname AS type,
       CASE WHEN a.atttypmod > 0 THEN a.atttypmod END AS dims,
       CASE WHEN c.reltuples >= 0 AND (c.reltuples > 0 OR c.relpages > 0)
            THEN c.reltuples::bigint END AS rows,
       CASE WHEN c.relkind = 'p'
            -- A partitioned table stores nothing itself: its partitions' pages (the
            -- planner's count, read without a lock on any of them).
            THEN (SELECT coalesce(sum(greatest(pc.relpages, 0)), 0)
                    FROM pg_partition_tree(c.oid) t JOIN pg_class pc ON pc.oid = t.relid
                   WHERE pc.relkind <> 'p')::bigint * current_setting('block_size')::bigint
            WHEN c.oid IN (SELECT relation FROM locked)
            THEN c.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_table_size(c.oid) END AS table_bytes,
       pg_has_role(c.relowner, 'USAGE') AS can_create_index,
       has_table_privilege(c.oid, 'SELECT') AS can_select,
       c.relkind::text AS relkind,
       pn.nspname::text AS parent_schema,
       pc.relname::text AS parent_table
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN vtypes vt ON vt.oid = a.atttypid
  -- A partition's parent (one level up): the migration wizard builds each partition.
  LEFT JOIN pg_inherits ih ON c.relispartition AND ih.inhrelid = c.oid
  LEFT JOIN pg_class pc ON pc.oid = ih.inhparent
  LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
 WHERE a.attnum > 0
   AND NOT a.attisdropped
   AND c.relkind IN ('r', 'p', 'm', 'f')
   AND n.nspname <> 'information_schema'
   AND n.nspname NOT LIKE 'pg\_%'
 ORDER BY 1, 2, a.attnum
