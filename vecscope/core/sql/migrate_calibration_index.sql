-- The target index, built on a calibration sample table.
CREATE INDEX ON {tbl} USING {method} (v {opclass}) WITH ({params})
