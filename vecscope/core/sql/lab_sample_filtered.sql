-- Query vectors for a filtered workload: rows chosen deterministically by a hash of their
-- key and %(seed)s, among those the filter matches ({filter} is `true` when the filter
-- takes each query's own values), with the columns the filter's placeholders name.
SELECT {key}::int8, {column}::vector{values} FROM {table}
 WHERE {column} IS NOT NULL AND ({filter})
 ORDER BY md5({key}::text || %(seed)s) LIMIT %(n)s
