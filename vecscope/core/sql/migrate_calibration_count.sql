-- How many vectors the calibration sample holds.
SELECT count(*) AS n FROM vecscope_calibration
