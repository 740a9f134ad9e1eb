-- The size of one index, by schema and name.
SELECT pg_relation_size(format('%%I.%%I', %(schema)s::text, %(name)s::text)::regclass) AS bytes
