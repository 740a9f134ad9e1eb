-- The partitions of a partitioned table (one level), by name: a build checks they are
-- still those of the plan.
SELECT c.relname::text AS name
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = %(table)s::regclass
 ORDER BY 1
