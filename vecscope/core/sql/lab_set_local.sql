-- A setting under test for this transaction only: through a transaction pooler the next
-- transaction may run on another server session, so every measured query sets its own.
SELECT set_config(%(name)s, %(value)s, true)
