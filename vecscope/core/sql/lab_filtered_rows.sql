-- The rows one filter matches, for its exact answers (run with lab_exact_settings).
SELECT {key}::int8, {column}::vector FROM {table}
 WHERE {column} IS NOT NULL AND ({filter})
