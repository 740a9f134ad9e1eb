-- The rows whose graph should just overflow the minimum maintenance_work_mem.
CREATE TEMP TABLE vecscope_memory ON COMMIT DROP AS
SELECT v FROM vecscope_calibration LIMIT {n}
