-- A sample of the column's vectors in a temporary table (dropped with the transaction).
CREATE TEMP TABLE vecscope_calibration ON COMMIT DROP AS
SELECT {expr} AS v FROM {tbl} TABLESAMPLE SYSTEM ({pct})
 WHERE {expr} IS NOT NULL LIMIT {n}
