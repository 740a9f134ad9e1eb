-- Fresh statistics for the table before verifying the new index. {table}: the table.
ANALYZE {table}
