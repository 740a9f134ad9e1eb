-- The exact top %(limit)s of one query vector (run with lab_exact_settings in effect).
SELECT {key}::int8, ({column} {operator} %(q)s::vector)::float8 AS d FROM {table}
 WHERE {column} IS NOT NULL ORDER BY {column} {operator} %(q)s::vector LIMIT %(limit)s
