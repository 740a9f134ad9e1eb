-- The calibration index just built: its size and its name.
SELECT pg_relation_size(indexrelid) AS bytes, indexrelid::regclass::text AS name
  FROM pg_index
 WHERE indrelid = 'vecscope_calibration'::regclass
