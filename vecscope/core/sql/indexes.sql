-- Every pgvector (hnsw, ivfflat) and pgvectorscale (diskann) index, with what a DBA needs
-- to judge it. One query, whatever the number of tables. {last_scan} is chosen by server
-- version in core.queries (pg_stat_all_indexes.last_idx_scan exists from PostgreSQL 16).
WITH locked AS (
    SELECT DISTINCT relation FROM pg_locks
     WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock' AND database = (
           SELECT oid FROM pg_database WHERE datname = current_database())
)
SELECT n.nspname::text AS schema,
       t.relname::text AS table,
       CASE WHEN x.indkey[0] <> 0 THEN
            (SELECT a.attname::text FROM pg_attribute a
              WHERE a.attrelid = x.indrelid AND a.attnum = x.indkey[0])
       ELSE
            -- An expression index records the columns its expression reads in pg_depend.
            (SELECT a.attname::text
               FROM pg_depend d
               JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_class'::regclass AND d.objid = i.oid
                AND d.refclassid = 'pg_class'::regclass AND d.refobjid = x.indrelid
                AND d.refobjsubid > 0
              ORDER BY a.attnum LIMIT 1)
       END AS column,
       i.relname::text AS name,
       am.amname::text AS method,
       opc.opcname::text AS opclass,
       (SELECT string_agg(o.oprname::text, ' ' ORDER BY ao.amopstrategy)
          FROM pg_amop ao JOIN pg_operator o ON o.oid = ao.amopopr
         WHERE ao.amopfamily = opc.opcfamily AND ao.amoppurpose = 'o') AS operator,
       coalesce(i.reloptions, ARRAY[]::text[]) AS reloptions,
       CASE WHEN i.relkind = 'I'
            -- A partitioned index stores nothing itself: its partitions' indexes' pages
            -- (the planner's count, read without a lock on any of them).
            THEN (SELECT coalesce(sum(greatest(pi2.relpages, 0)), 0)
                    FROM pg_partition_tree(i.oid) pt JOIN pg_class pi2 ON pi2.oid = pt.relid
                   WHERE pi2.relkind <> 'I')::bigint * current_setting('block_size')::bigint
            WHEN i.oid IN (SELECT relation FROM locked) OR t.oid IN (SELECT relation FROM locked)
            THEN i.relpages::bigint * current_setting('block_size')::bigint
            ELSE pg_relation_size(i.oid) END AS size_bytes,
       pg_get_indexdef(i.oid) AS definition,
       x.indisvalid AS valid,
       x.indisready AS ready,
       pg_get_expr(x.indpred, x.indrelid) AS predicate,
       pg_get_expr(x.indexprs, x.indrelid) AS expression,
       s.idx_scan AS scans,
       s.idx_tup_read AS tuples_read,
       {last_scan} AS last_scan,
       ts.spcname::text AS tablespace,
       pi.relname::text AS parent_index
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_am am ON am.oid = i.relam
  JOIN pg_opclass opc ON opc.oid = x.indclass[0]
  LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.oid
  LEFT JOIN pg_tablespace ts ON ts.oid = i.reltablespace
  -- The partitioned index a partition's index is attached to.
  LEFT JOIN pg_inherits ih ON i.relispartition AND ih.inhrelid = i.oid
  LEFT JOIN pg_class pi ON pi.oid = ih.inhparent
 WHERE am.amname IN ('hnsw', 'ivfflat', 'diskann')
 ORDER BY 1, 2, 4
