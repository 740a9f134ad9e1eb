-- Drop the calibration index before the next timed build.
DROP INDEX {index}
