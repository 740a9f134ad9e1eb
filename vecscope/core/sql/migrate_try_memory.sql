-- Whether this session may SET maintenance_work_mem to a value (run in a transaction
-- that is rolled back: nothing stays set). A provider's hook may refuse what max_val allows.
SELECT set_config('maintenance_work_mem', %(value)s, true) AS value
