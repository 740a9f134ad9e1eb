-- Every non-NULL vector of the column with its integer key, in COPY's binary format
-- (halfvec cast to vector on the server), for ground truth and FAISS export.
COPY (SELECT {key}::int8, {column}::vector FROM {table} WHERE {column} IS NOT NULL)
  TO STDOUT (FORMAT BINARY)
