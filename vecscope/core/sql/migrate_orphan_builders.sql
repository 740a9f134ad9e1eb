-- Backends still running a CREATE INDEX on the table, or on one of its partitions, under
-- vecscope's name (a killed vecscope's build).
SELECT p.pid
  FROM pg_stat_progress_create_index p
  JOIN pg_stat_activity a ON a.pid = p.pid
 WHERE p.relid IN (SELECT %(table)s::regclass
                   UNION SELECT relid FROM pg_partition_tree(%(table)s::regclass))
   AND p.pid <> pg_backend_pid()
   AND a.application_name = %(application)s
