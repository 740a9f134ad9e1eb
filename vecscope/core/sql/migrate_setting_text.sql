-- A setting as pg_settings gives it, with where its value came from ('default' when
-- nobody set it).
SELECT setting, source::text AS source
  FROM pg_settings
 WHERE name = %(name)s
