-- Drop the demo database to seed it anew (its sessions are ended). {database}: its name.
DROP DATABASE {database} WITH (FORCE)
