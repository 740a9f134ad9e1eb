-- The lab's measured nearest-neighbour query under the application's filter; the
-- filter's placeholders are bind parameters %(f0)s, %(f1)s, ...
SELECT {key}::int8, ({column} {operator} %(q)s::vector)::float8 FROM {table}
 WHERE {filter}
 ORDER BY {column} {operator} %(q)s::vector LIMIT {limit}
