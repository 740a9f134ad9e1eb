-- A real vector of a column, as text, to stand in for a query-vector parameter ($n) when
-- the plan cannot be generic.
SELECT {column}::text FROM {table} WHERE {column} IS NOT NULL LIMIT 1
