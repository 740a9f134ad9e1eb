-- Calibration runs in a rolled-back transaction: no statement timeout inside it.
SET LOCAL statement_timeout = 0
