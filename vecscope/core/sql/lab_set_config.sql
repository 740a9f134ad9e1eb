-- A setting under test, for the measuring session (not only a transaction).
SELECT set_config(%(name)s, %(value)s, false)
