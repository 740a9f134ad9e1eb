-- What a setting is in this transaction: proof the measured query ran with it (NULL for
-- a setting this server does not have, such as hnsw.iterative_scan before pgvector 0.8).
SELECT current_setting(%(name)s, true) AS value
