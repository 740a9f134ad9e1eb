-- Cancel one backend's running statement.
SELECT pg_cancel_backend(%(pid)s)
