-- Query vectors sampled from the table: rows chosen deterministically by a hash of their
-- key and %(seed)s, at most %(n)s of them.
SELECT {key}::int8, {column}::vector FROM {table} WHERE {column} IS NOT NULL
 ORDER BY md5({key}::text || %(seed)s) LIMIT %(n)s
