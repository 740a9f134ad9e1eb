-- The server session behind this client connection, and the port the server listens on
-- (NULL over a Unix socket): a pooler shows in one or the other.
SELECT pg_backend_pid() AS pid, inet_server_port() AS server_port
