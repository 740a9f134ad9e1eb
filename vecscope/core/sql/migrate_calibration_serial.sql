-- Calibration builds serially: the measured time is one process's.
SET LOCAL max_parallel_maintenance_workers = 0
