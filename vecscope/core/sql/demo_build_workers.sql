-- A demo index-build session: no parallel workers. Two build sessions and the seed's own
-- process already keep a small machine's cores busy; a serial build spends the least CPU.
SET max_parallel_maintenance_workers = 0
