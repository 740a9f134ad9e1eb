-- Exact answers for ground truth: no index may answer, and no time limit, for the
-- current transaction only (SET LOCAL).
SELECT set_config('enable_indexscan', 'off', true),
       set_config('enable_bitmapscan', 'off', true),
       set_config('statement_timeout', '0', true)
