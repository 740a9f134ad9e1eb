-- The session settings the doctor judges a plan with, as the EXPLAIN's transaction sees
-- them. %(names)s is a text[] of setting names; an unknown one (an extension not loaded)
-- has a NULL value.
SELECT name, current_setting(name, true) AS value FROM unnest(%(names)s::text[]) AS name
