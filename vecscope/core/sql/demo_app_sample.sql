-- 100 random vectors of one demo table, as text, for the demo workload's queries.
-- {column}: the vector column; {table}: the qualified table.
SELECT {column}::text FROM {table} ORDER BY random() LIMIT 100
