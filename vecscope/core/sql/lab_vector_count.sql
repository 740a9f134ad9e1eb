-- How many rows of the table hold a vector in the column.
SELECT count(*) AS n FROM {table} WHERE {column} IS NOT NULL
