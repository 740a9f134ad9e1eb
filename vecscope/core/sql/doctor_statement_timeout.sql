-- SET LOCAL statement_timeout for the EXPLAIN's transaction: %(ms)s milliseconds.
SELECT set_config('statement_timeout', %(ms)s::int::text, true)
