-- Storage identity and size, the live row count, and the write counters of the table:
-- any of them moving means the table changed and cached ground truth is stale.
-- The parameter is the same table's qualified, quoted name.
SELECT c.relfilenode, pg_relation_size(c.oid),
       (SELECT count(*) FROM ONLY {table}),
       coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_del, 0)
  FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
 WHERE c.oid = %(table)s::regclass
