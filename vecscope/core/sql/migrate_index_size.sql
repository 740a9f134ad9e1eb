-- The size of one index by schema and name; of a partitioned index (which has no storage
-- of its own), its partitions' too. pg_partition_tree lists nothing for a plain index.
WITH ix AS (SELECT format('%%I.%%I', %(schema)s::text, %(name)s::text)::regclass AS relid)
SELECT coalesce(sum(pg_relation_size(relid)), 0)::bigint AS bytes
  FROM (SELECT relid FROM ix UNION SELECT t.relid FROM ix, pg_partition_tree(ix.relid) t) tree
