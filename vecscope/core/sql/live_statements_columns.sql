-- Which pg_stat_statements this is: stats_since per entry (1.11+), and the
-- pg_stat_statements_info view with the time of the last full reset (1.9+).
SELECT EXISTS (SELECT 1 FROM pg_attribute
                WHERE attrelid = to_regclass(%(view)s)
                  AND attname = 'stats_since' AND NOT attisdropped) AS has_since,
       to_regclass(%(info)s) IS NOT NULL AS has_info
