-- The lab's measured nearest-neighbour query. One parameter used twice: the vector is
-- sent (and converted) once per query.
SELECT {key}::int8, ({column} {operator} %(q)s::vector)::float8 FROM {table}
 ORDER BY {column} {operator} %(q)s::vector LIMIT {limit}
