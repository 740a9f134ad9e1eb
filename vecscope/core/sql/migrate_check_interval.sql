-- If vecscope dies mid-build the server notices within seconds and stops the build,
-- instead of finishing an index nobody will mark as done (PostgreSQL 14+).
SET client_connection_check_interval = '2s'
