-- SET LOCAL one setting for the EXPLAIN's transaction ("try the fix" with a finding's
-- setting): %(name)s, %(value)s. The transaction is rolled back, so it lasts one run.
SELECT set_config(%(name)s, %(value)s, true)
