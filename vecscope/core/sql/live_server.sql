-- One row per poll: the server's clock (rates are computed on it, not on ours) and when
-- the server started (a restart resets every counter).
SELECT clock_timestamp() AS at,
       pg_postmaster_start_time() AS started
