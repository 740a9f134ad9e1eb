-- Where a CREATE INDEX stands. %(pid)s: the building backend.
SELECT phase FROM pg_stat_progress_create_index WHERE pid = %(pid)s
