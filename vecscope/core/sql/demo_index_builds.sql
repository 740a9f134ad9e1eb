-- How far the demo's index builds are: the phase of each CREATE INDEX running in the
-- build sessions %(pids)s, and the part of it done (tuples, else blocks) when it counts.
SELECT pid,
       phase,
       CASE WHEN tuples_total > 0 THEN 100.0 * tuples_done / tuples_total
            WHEN blocks_total > 0 THEN 100.0 * blocks_done / blocks_total
       END::float8 AS percent
  FROM pg_stat_progress_create_index
 WHERE pid = ANY(%(pids)s)
