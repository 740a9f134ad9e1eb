-- EXPLAIN ANALYZE executes the query: only inside a read-only transaction, rolled back.
BEGIN READ ONLY
