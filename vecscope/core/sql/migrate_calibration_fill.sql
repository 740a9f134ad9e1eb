-- The calibration sample from the table's first rows (a small or clustered table).
INSERT INTO vecscope_calibration SELECT {expr} FROM {tbl}
 WHERE {expr} IS NOT NULL LIMIT {n}
