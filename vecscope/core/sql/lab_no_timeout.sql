-- No time limit for the current transaction only (a long read of rows for ground truth).
SELECT set_config('statement_timeout', '0', true)
