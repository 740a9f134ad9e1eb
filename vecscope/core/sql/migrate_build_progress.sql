-- How far a CREATE INDEX (or REINDEX) of one backend has got, and whom it waits for.
SELECT p.phase, p.tuples_done, p.tuples_total, p.blocks_done, p.blocks_total,
       p.lockers_total, p.lockers_done, p.current_locker_pid
  FROM pg_stat_progress_create_index p
 WHERE p.pid = %(pid)s
