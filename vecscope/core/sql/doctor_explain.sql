-- EXPLAIN of the user's statement, as the user wrote it. The options part: FORMAT JSON,
-- VERBOSE, SETTINGS (and ANALYZE, BUFFERS or GENERIC_PLAN). Composed parts are named
-- only in the statement itself: a comment would take their text (the query's newlines).
EXPLAIN ({options}) {query}
