-- Whether the demo database exists on the embedded server. %(name)s: its name.
SELECT 1 FROM pg_database WHERE datname = %(name)s
