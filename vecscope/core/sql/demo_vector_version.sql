-- pgvector's installed version in the demo database (which index types it can build).
SELECT extversion FROM pg_extension WHERE extname = 'vector'
