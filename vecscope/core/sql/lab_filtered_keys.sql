-- The keys of the rows one filter matches (their vectors were read once, by COPY).
SELECT {key}::int8 FROM {table} WHERE {column} IS NOT NULL AND ({filter})
