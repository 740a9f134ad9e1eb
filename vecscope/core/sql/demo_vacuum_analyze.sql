-- The seed's last step: statistics, and each table's free-space and visibility maps, so
-- sizes do not change later when autovacuum gets to the freshly loaded tables.
VACUUM (ANALYZE)
