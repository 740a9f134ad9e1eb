-- About how much data a dump will read, for its progress: the pages of the tables
-- %(tables)s (the table and, when partitioned, its partitions) with their TOAST
-- tables, or of every table in the database, as VACUUM and ANALYZE last counted them.
-- From pg_class alone: it takes no lock, so it never waits behind a DDL on the table.
SELECT (SELECT sum(c.relpages + coalesce(t.relpages, 0))::int8
               * current_setting('block_size')::int8
          FROM pg_class c
          LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
         WHERE c.oid = ANY(%(tables)s::regclass[])) AS table_bytes,
       (SELECT sum(relpages)::int8 * current_setting('block_size')::int8
          FROM pg_class
         WHERE relkind IN ('r', 't', 'm')) AS database_bytes
