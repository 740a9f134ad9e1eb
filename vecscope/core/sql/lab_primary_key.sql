-- The table's single-column primary key and its type: the lab tells results apart by it.
-- %(table)s is the table's qualified, quoted name.
SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_index i JOIN pg_attribute a
    ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
 WHERE i.indrelid = %(table)s::regclass AND i.indisprimary AND i.indnatts = 1
