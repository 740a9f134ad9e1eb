-- The settings a DBA needs to judge vector index builds and queries, as this session sees
-- them (database and role overrides included). %(names)s is a text[] of setting names.
-- vecscope's own probe timeout (SET statement_timeout in this session) is not the
-- server's: for a setting this session SET, the value it had when the session began.
SELECT s.name::text AS name,
       CASE WHEN s.source = 'session'
            THEN s.reset_val || CASE WHEN s.unit IN ('ms', 's', 'min') THEN s.unit ELSE '' END
            ELSE current_setting(s.name, true)
       END AS value,
       CASE WHEN s.source = 'session' THEN 'session start' ELSE s.source::text END AS source
  FROM pg_settings s
 WHERE s.name = ANY(%(names)s)
 ORDER BY array_position(%(names)s, s.name::text)
