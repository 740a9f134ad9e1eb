-- Which server and database a connection reaches: a direct connection given beside a
-- pooled one must reach the very same database.
SELECT current_database() AS dbname,
       (SELECT oid FROM pg_database WHERE datname = current_database()) AS db_oid,
       pg_postmaster_start_time() AS started
