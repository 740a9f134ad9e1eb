-- Rewrite a freshly loaded demo table: PostgreSQL 16+ extends a table being loaded by
-- several pages at a time, so the empty pages at its end vary run to run; a rewrite packs
-- the rows (same size, same plan costs at every seed). {table}: the qualified table.
VACUUM (FULL) {table}
