-- An integer setting as pg_settings gives it.
SELECT setting::int AS value
  FROM pg_settings
 WHERE name = %(name)s
