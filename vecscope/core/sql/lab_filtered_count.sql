-- How many rows of the table one filter matches (the filter's selectivity).
SELECT count(*)::int8 AS n FROM {table} WHERE {column} IS NOT NULL AND ({filter})
