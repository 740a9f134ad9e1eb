-- The data a dump of the table (heap and TOAST, without indexes; every partition's for a
-- partitioned table) or of the whole database will hold, to check the backup folder has
-- the room before pg_dump starts.
SELECT (SELECT sum(pg_total_relation_size(relid) - pg_indexes_size(relid))
          FROM (SELECT %(table)s::regclass AS relid
                UNION SELECT relid FROM pg_partition_tree(%(table)s::regclass)) tree)
           AS table_bytes,
       pg_database_size(current_database()) AS database_bytes
