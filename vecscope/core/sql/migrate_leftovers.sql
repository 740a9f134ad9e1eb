-- Invalid (or not ready) indexes on the table or its partitions: what an earlier attempt
-- left, ours or anyone's. partitioned: a partitioned index (no concurrent drop for it).
SELECT i.relname::text AS name, i.relkind = 'I' AS partitioned
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
 WHERE x.indrelid IN (SELECT %(table)s::regclass
                    UNION SELECT relid FROM pg_partition_tree(%(table)s::regclass))
   AND NOT (x.indisvalid AND x.indisready)
 ORDER BY 1
