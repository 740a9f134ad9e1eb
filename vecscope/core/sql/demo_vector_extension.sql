-- The demo seed's first step: pgvector in the (fresh) demo database.
CREATE EXTENSION IF NOT EXISTS vector
