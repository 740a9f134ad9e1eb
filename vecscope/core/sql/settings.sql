-- The settings a DBA needs to judge vector index builds and queries, as this session sees
-- them (database and role overrides included). %(names)s is a text[] of setting names.
SELECT s.name::text AS name,
       current_setting(s.name, true) AS value,
       s.source::text AS source
  FROM pg_settings s
 WHERE s.name = ANY(%(names)s)
 ORDER BY array_position(%(names)s, s.name::text)
