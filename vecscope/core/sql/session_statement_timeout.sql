-- This session's statement timeout, so catalog probes never hang on a sick server
-- (SET takes no query parameters). {timeout}: milliseconds, a literal integer.
SET statement_timeout = {timeout}
