-- Whether this session may write: a role, database or connection set to read only lets
-- preflight pass and only the build fail (after the dump); preflight says so first.
SELECT current_setting('default_transaction_read_only') = 'on' AS default_read_only,
       current_setting('transaction_read_only') = 'on' AS read_only
