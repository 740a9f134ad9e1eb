-- Cancel the demo's concurrent build, as an impatient DBA would. %(pid)s: its backend.
SELECT pg_cancel_backend(%(pid)s)
