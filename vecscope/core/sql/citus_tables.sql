-- Citus distributed and reference tables (run only where the citus extension is installed:
-- pg_dist_partition and pg_dist_shard are Citus's own catalog tables on the coordinator).
SELECT n.nspname AS schema,
       c.relname AS "table",
       CASE p.partmethod WHEN 'h' THEN 'hash' WHEN 'n' THEN 'reference'
                         WHEN 'a' THEN 'append' WHEN 'r' THEN 'range'
                         ELSE p.partmethod::text END AS method,
       (SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid)::int AS shards
  FROM pg_dist_partition p
  JOIN pg_class c ON c.oid = p.logicalrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 ORDER BY 1, 2
