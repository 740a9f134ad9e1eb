-- When pg_stat_statements was last reset as a whole. {info}: pg_stat_statements_info.
SELECT stats_reset FROM {info}
