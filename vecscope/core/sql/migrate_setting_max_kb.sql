-- The largest value a memory setting accepts, in kB (pg_settings.max_val: a provider
-- may lower it; PostgreSQL's own is 2 TB for maintenance_work_mem).
SELECT max_val::bigint * CASE unit WHEN 'kB' THEN 1 WHEN 'MB' THEN 1024
                                   WHEN '8kB' THEN 8 ELSE 1 END AS kb
  FROM pg_settings
 WHERE name = %(name)s
