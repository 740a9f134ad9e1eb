-- A memory setting in kB, whatever unit pg_settings gives it in.
SELECT setting::bigint * CASE unit WHEN 'kB' THEN 1 WHEN 'MB' THEN 1024
                                   WHEN '8kB' THEN 8 ELSE 1 END AS kb
  FROM pg_settings
 WHERE name = %(name)s
