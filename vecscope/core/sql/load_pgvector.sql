-- pgvector defines hnsw.* and ivfflat.* when its library loads in a backend; parsing one
-- vector literal loads it, so current_setting() can see them. {schema}: pgvector's schema.
SELECT '[1]'::{schema}.vector IS NOT NULL AS loaded
